# shellcheck shell=sh
# Sourced by the simulated systemctl and the service supervisor: where units, their state and the journal
# live, and how to read them. A unit's state is /run/sim-systemd/<unit>/state (active, activating,
# deactivating, failed; absent = inactive); the journal file holds "<unit>\t<syslog-style line>".
UNIT_DIR=/etc/systemd/system
STATE_DIR=/run/sim-systemd
CONTROL=$STATE_DIR/control
JOURNAL=/var/log/journal/sim-journal.tsv

unit_file() { [ -f "$UNIT_DIR/$1" ] && echo "$UNIT_DIR/$1"; }
# Values of KEY= lines in a unit file, one per line.
unit_key() { sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1"; }
# The last value of KEY= in a unit file, or DEFAULT.
unit_value() {
  value=$(unit_key "$1" "$2" | tail -n 1)
  echo "${value:-$3}"
}
state_of() { cat "$STATE_DIR/$1/state" 2>/dev/null || echo inactive; }

set_state() {
  mkdir -p "$STATE_DIR/$1"
  echo "$2" >"$STATE_DIR/$1/state"
  date +%s >"$STATE_DIR/$1/since"
}

# journal UNIT MESSAGE [IDENT]: one line as systemd (or IDENT, e.g. "rachel8[42]") would log it.
journal() {
  mkdir -p "${JOURNAL%/*}"
  printf '%s\t%s %s %s: %s\n' "$1" "$(date '+%b %d %H:%M:%S')" "$(hostname)" "${3:-systemd[1]}" "$2" >>"$JOURNAL"
}

title() {
  description=$(unit_key "$2" Description | tail -n 1)
  if [ -n "$description" ]; then echo "$1 - $description"; else echo "$1"; fi
}
