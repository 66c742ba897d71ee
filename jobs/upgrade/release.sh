#!/bin/sh
# Release switching on a customer server for an upgrade, run as root (sudo) over the pinned SSH session.
# Usage: release.sh stage APP_ROOT SHA256 URL   (stdin: the line "Authorization: Bearer <token>")
#        release.sh switch APP_ROOT SHA256 UNIT
# stage prints the release `current` points at ("none" without one), then makes APP_ROOT/releases/<sha256>
# exist whole: fetched with the grant's token read from stdin (never an argv or a file), checked against
# its sha256 and unpacked beside the running release, exactly as boot-from-bundle.sh does at first boot.
# switch points `current` at the release by renaming a new link over it (atomic), clears the unit's start
# limit (a deliberate restart must not be refused) and restarts the unit. Both are safe to run again.
set -eu

action=$1 root=$2 sha256=$3 arg=$4
releases="$root/releases"
release="$releases/$sha256"

fail() {
  echo "release: $*" >&2
  exit 1
}

case "$sha256" in
*[!0-9a-f]* | "") fail "bad bundle id" ;;
esac
[ ${#sha256} -eq 64 ] || fail "bad bundle id"

stage() {
  url=$1
  current=$(readlink "$root/current" 2>/dev/null) || current=none
  echo "${current##*/}"
  [ -d "$release" ] && return 0
  archive="$releases/.$sha256.tar.gz"
  install -d -m 0755 "$releases"
  curl --fail --silent --show-error --retry 10 --retry-delay 3 --retry-connrefused \
    --connect-timeout 10 --max-time 900 --continue-at - --header @- --output "$archive" "$url" ||
    fail "downloading the bundle failed (curl exit $?; 22: refused, so a wrong or spent token or a foreign address)"
  echo "$sha256  $archive" | sha256sum --check --strict --quiet ||
    {
      rm -f "$archive"
      fail "bundle checksum mismatch: the download is not bundle $sha256"
    }
  staging="$releases/.$sha256.unpacking"
  rm -rf "$staging"
  mkdir -p "$staging"
  tar -xzf "$archive" -C "$staging" --no-same-owner || fail "unpacking the bundle failed"
  for path in bin/bun bin/claude app bundle.json; do
    [ -e "$staging/$path" ] || fail "the bundle has no $path"
  done
  mv "$staging" "$release"
  rm -f "$archive"
}

switch() {
  unit=$1
  [ -d "$release" ] || fail "release $sha256 is not unpacked"
  ln -sfn "$release" "$root/.current.new"
  mv -T "$root/.current.new" "$root/current"
  systemctl reset-failed "$unit" 2>/dev/null || true
  systemctl restart "$unit" || fail "systemctl restart $unit failed"
}

case "$action" in
stage) stage "$arg" ;;
switch) switch "$arg" ;;
*) fail "unknown action $action" ;;
esac
