#!/bin/bash
# First-boot host setup, run as root by cloud-init's runcmd. Safe to run again on the same machine.
# Usage: prepare-host.sh USER APP_REPO_URL APP_REF BUN_VERSION MARKER_PATH PACKAGE...
# (BUN_VERSION may be empty: the newest release.) Secrets are not handled here: they arrive later over SSH.
set -Eeuo pipefail
trap 'echo "prepare-host: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

user=$1 repo_url=$2 app_ref=$3 bun_version=$4 marker=$5
shift 5
packages=("$@")
# Parameter expansions, not dirname/cut/date: each process is time on a first boot that waits for it.
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
# shellcheck source=retry.sh
source "$here/retry.sh"

# cloud-init's own package step gives up after 30 s on a held apt lock (unattended-upgrades at first boot).
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1

ensure_packages() {
  local missing=() package installed=" " name status
  # One query for all: it lists the known ones (and exits 1 when any is unknown, which is fine here).
  while IFS=' ' read -r name status; do
    if [[ "$status" == "install ok installed" ]]; then installed+="$name "; fi
  done < <(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)
  for package in "${packages[@]}"; do
    if [[ "$installed" != *" $package "* ]]; then missing+=("$package"); fi
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  echo "prepare-host: installing ${missing[*]} (cloud-init's package step did not)"
  retry apt-get -o DPkg::Lock::Timeout=600 update -q
  retry apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
}

home_of() {
  local entry dir
  if ! entry=$(getent passwd "$1"); then
    echo "prepare-host: user $1 does not exist (cloud-init's users step failed?)" >&2
    return 1
  fi
  IFS=: read -r _ _ _ _ _ dir _ <<<"$entry"
  echo "$dir"
}

ensure_packages
home=$(home_of "$user")
# A clean environment: cloud-init's own has no HOME for the user, and the installers write under $HOME.
runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" SHELL=/bin/bash LANG=C.UTF-8 \
  PATH="$home/.bun/bin:/usr/local/bin:/usr/bin:/bin" \
  /bin/bash "$here/install-app.sh" "$repo_url" "$app_ref" "$bun_version"
install -d -m 0755 "${marker%/*}"
TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T\n' -1 >"$marker"
echo "prepare-host: done"
