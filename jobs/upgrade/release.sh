#!/bin/sh
# Release switching on a customer server for an upgrade, run as root (sudo) over the pinned SSH session.
# Usage: release.sh stage APP_ROOT SHA256 URL   (stdin: the line "Authorization: Bearer <token>")
#        release.sh switch APP_ROOT SHA256 UNIT
# stage prints the release `current` points at ("none" without one), then makes APP_ROOT/releases/<sha256>
# exist whole: fetched with the grant's token read from stdin (never an argv or a file), checked against
# its sha256 and unpacked beside the running release by fetch_release, shipped prepended as at first boot.
# stage also removes every release but the running one and the one it stages, so a server keeps two: the
# current and the previous (the one a rollback goes back to).
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
  current=$(readlink "$root/current" 2>/dev/null) || current=none
  echo "${current##*/}"
  for old in "$releases"/*; do
    [ -d "$old" ] || continue
    case "${old##*/}" in "${current##*/}" | "$sha256") ;; *) rm -rf -- "$old" ;; esac
  done
  [ -d "$release" ] && return 0
  fetch_release @- "$1"
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
