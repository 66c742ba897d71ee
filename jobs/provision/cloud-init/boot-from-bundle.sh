#!/bin/sh
# First boot from the app bundle, run as root by cloud-init's runcmd: fetch the bundle from the control plane
# (the only host it contacts), check its sha256, unpack it into a release directory, point `current` at it,
# prepare the app user's home, then write the setup marker. Needs only curl, tar, gzip and sha256sum, which
# stock Debian and Ubuntu images have. Safe to run again: each part converges. fetch_release is shipped
# prepended (jobs/shared/fetch-release.sh).
# Usage: boot-from-bundle.sh USER BUNDLE_URL SHA256 AUTH_HEADER_FILE APP_ROOT MARKER_PATH
# Releases unpack into APP_ROOT/releases/<sha256>/ (root-owned: the app cannot change its own code);
# APP_ROOT/current points at the one that runs. The marker holds "<UTC time> <sha256>".
# AUTH_HEADER_FILE holds "Authorization: Bearer <token>" (root-only, written by write_files): the grant's
# token never reaches an argv or a log, and is removed once the bundle is unpacked.
set -eu

user=$1 url=$2 sha256=$3 auth=$4 root=$5 marker=$6
releases="$root/releases"
release="$releases/$sha256"

fail() {
  echo "boot-from-bundle: $*" >&2
  exit 1
}

home_of() {
  entry=$(getent passwd "$1") || fail "user $1 does not exist (cloud-init's users step failed?)"
  IFS=: read -r _ _ _ gid _ home _ <<EOF
$entry
EOF
}

if [ ! -d "$release" ]; then
  [ -f "$auth" ] || fail "no bundle token at $auth (already used by an earlier boot?)"
  fetch_release "@$auth" "$url"
fi
rm -f "$auth"
# Atomic switch: a new link beside the old one, renamed over it.
ln -sfn "$release" "$root/.current.new"
mv -T "$root/.current.new" "$root/current"
# Where the app looks for the CLI (/usr/local/bin is on systemd's PATH), through `current` across upgrades.
ln -sfn "$root/current/bin/claude" /usr/local/bin/claude

home_of "$user"
# Everything the app writes lives here, outside any release: its working directory (.env, data), the shared
# folder, and Claude Code's private directory (its credentials arrive over SSH).
install -d -m 0755 "$home/rachel8" "$home/shared"
install -d -m 0700 "$home/.claude"
chown "$user:$gid" "$home/rachel8" "$home/shared" "$home/.claude"

install -d -m 0755 "${marker%/*}"
printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$sha256" >"$marker"
echo "boot-from-bundle: release $sha256 at $root/current"
