#!/bin/bash
# Installs Bun, the app checkout and its dependencies, the shared folder and Claude Code's private directory
# for the app's user.
# Run by prepare-host.sh as that user with HOME set. Safe to run again: each part converges.
# Usage: install-app.sh APP_REPO_URL APP_REF BUN_VERSION   (BUN_VERSION may be empty: the newest release)
set -Eeuo pipefail
trap 'echo "install-app: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

repo_url=$1 app_ref=$2 bun_version=$3
app_dir="$HOME/rachel8"
bun="$HOME/.bun/bin/bun"
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
# shellcheck source=retry.sh
source "$here/retry.sh"

install_bun() {
  if [[ -x "$bun" && (-z "$bun_version" || "$("$bun" --version)" == "$bun_version") ]]; then
    return 0
  fi
  local installer
  installer=$(mktemp)
  # Downloaded to a file first: a dropped connection must not run half a script.
  retry curl -fsSL -o "$installer" https://bun.sh/install
  if [[ -n "$bun_version" ]]; then
    retry bash "$installer" "bun-v$bun_version"
  else
    retry bash "$installer"
  fi
  rm -f "$installer"
}

# Fetching one ref into a plain init'd repository works for branches, tags and commit ids alike, and
# converges when a previous run stopped half-way.
checkout_app() {
  if [[ ! -d "$app_dir/.git" ]]; then
    git -c init.defaultBranch=main init -q "$app_dir"
  fi
  if git -C "$app_dir" remote get-url origin >/dev/null 2>&1; then
    git -C "$app_dir" remote set-url origin "$repo_url"
  else
    git -C "$app_dir" remote add origin "$repo_url"
  fi
  retry git -C "$app_dir" fetch -q --depth 1 origin "$app_ref"
  git -C "$app_dir" checkout -q --force FETCH_HEAD
}

install_bun
checkout_app
(cd "$app_dir" && retry "$bun" install)
mkdir -p "$HOME/shared"
# Where Claude Code keeps its credentials: made now, private, so the injection after boot need not.
mkdir -p -m 700 "$HOME/.claude"
echo "install-app: $("$bun" --version) at $app_dir, commit $(git -C "$app_dir" rev-parse HEAD)"
