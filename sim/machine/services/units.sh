# shellcheck shell=sh
# Sourced by the simulated systemctl and the service supervisor: where units, their state and the journal
# live, and how to read them. A unit's state is /run/sim-systemd/<unit>/state (active, activating,
# deactivating, failed; absent = inactive); the journal file holds "<unit>\t<syslog-style line>".
# Unit files and state are read with shell builtins: these run on every systemctl call and unit start,
# and each extra process costs a millisecond.
UNIT_DIR=/etc/systemd/system
STATE_DIR=/run/sim-systemd
CONTROL=$STATE_DIR/control
JOURNAL=/var/log/journal/sim-journal.tsv

unit_file() { [ -f "$UNIT_DIR/$1" ] && echo "$UNIT_DIR/$1"; }

# unit_lines FILE: calls `unit_line KEY VALUE` (defined by the caller) for every KEY=VALUE line, with the
# whitespace around the key and before the value dropped, as systemd reads them.
unit_lines() {
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line#"${line%%[![:space:]]*}"}
    key=${line%%=*}
    [ "$key" != "$line" ] || continue
    value=${line#*=}
    unit_line "${key%"${key##*[![:space:]]}"}" "${value#"${value%%[![:space:]]*}"}"
  done <"$1"
}

# Values of KEY= lines in a unit file, one per line.
unit_key() {
  wanted=$2
  unit_line() { if [ "$1" = "$wanted" ]; then printf '%s\n' "$2"; fi; }
  unit_lines "$1"
}
# The last value of KEY= in a unit file, or DEFAULT.
unit_value() {
  wanted=$2 last=""
  unit_line() { if [ "$1" = "$wanted" ]; then last=$2; fi; }
  unit_lines "$1"
  echo "${last:-$3}"
}
state_of() {
  current=inactive
  if [ -f "$STATE_DIR/$1/state" ]; then read -r current <"$STATE_DIR/$1/state" || true; fi
  echo "$current"
}

set_state() {
  [ -d "$STATE_DIR/$1" ] || mkdir -p "$STATE_DIR/$1"
  echo "$2" >"$STATE_DIR/$1/state"
  date +%s >"$STATE_DIR/$1/since"
}

# journal UNIT MESSAGE [IDENT]: one line as systemd (or IDENT, e.g. "rachel8[42]") would log it.
journal() {
  [ -d "${JOURNAL%/*}" ] || mkdir -p "${JOURNAL%/*}"
  read -r box_hostname </proc/sys/kernel/hostname
  printf '%s\t%s %s %s: %s\n' "$1" "$(date '+%b %d %H:%M:%S')" "$box_hostname" "${3:-systemd[1]}" "$2" >>"$JOURNAL"
}

title() {
  description=$(unit_value "$2" Description "")
  if [ -n "$description" ]; then echo "$1 - $description"; else echo "$1"; fi
}
