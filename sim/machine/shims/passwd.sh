# shellcheck shell=sh
# Sourced by the stand-in sudo and by the service manager: reads the box's /etc/passwd as
# `getent passwd NAME` does (the box's nsswitch is files only), with shell builtins alone: these run on
# every sudo, so a lookup must not cost three processes.
# passwd_entry NAME: sets entry_home and entry_shell and returns 0 when NAME (or a numeric uid) has an
# entry; returns 2 (getent's "not found") otherwise.
passwd_entry() {
  [ -n "$1" ] || return 2
  while IFS=: read -r entry_name _ entry_uid _ _ entry_home entry_shell || [ -n "$entry_name" ]; do
    if [ "$entry_name" = "$1" ]; then return 0; fi
    case $1 in *[!0-9]*) ;; *) if [ "$entry_uid" = "$1" ]; then return 0; fi ;; esac
  done </etc/passwd
  return 2
}
