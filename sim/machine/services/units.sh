# shellcheck shell=bash
# Sourced by the stand-in's systemctl and its service manager (both bash): where units, their state and the
# journal live, and how to read them. A unit's state is /run/sim-systemd/<unit>.state (active, activating,
# deactivating, failed; absent = inactive), beside its other files; the journal file holds
# "<unit>\t<syslog-style line>". Builtins only: these run on every systemctl call and every journal line.
UNIT_DIR=/etc/systemd/system
STATE_DIR=/run/sim-systemd
CONTROL=$STATE_DIR/control
# A FIFO nobody writes to: opened read-write, a read on it blocks until a timeout or signal (no sleep process).
IDLE=$STATE_DIR/idle
# The service manager's acknowledgements: the token of each request once it took effect, a line each.
ACKS=$STATE_DIR/acks
JOURNAL=/var/log/journal/sim-journal.tsv
# The service manager's environment, which every unit inherits (`systemctl show-environment` prints it).
MANAGER_PATH=/opt/sim/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
MANAGER_LANG=C.UTF-8

# load_unit FILE: sets the associative array `keys` to the file's KEY=VALUE lines (the last value wins,
# as in systemd; blanks around the key and before the value dropped).
load_unit() {
  declare -gA keys=()
  local line key
  while IFS= read -r line || [ -n "$line" ]; do
    [[ $line == *=* && $line != [\#\;]* ]] || continue
    key=${line%%=*}
    line=${line#*=}
    keys[${key//[[:space:]]/}]=${line#"${line%%[![:space:]]*}"}
  done <"$1"
}

# title UNIT: sets $title to "UNIT - Description" (from the loaded `keys`), or UNIT without one.
title() { title=$1${keys[Description]:+ - ${keys[Description]}}; }

# state_of UNIT: sets $unit_state.
state_of() {
  unit_state=inactive
  if [ -f "$STATE_DIR/$1.state" ]; then read -r unit_state <"$STATE_DIR/$1.state" || true; fi
}

# set_state UNIT STATE: replaced whole (a rename), so a reader never sees it half written.
set_state() { echo "$2" >"$STATE_DIR/$1.state.new" && mv -f "$STATE_DIR/$1.state.new" "$STATE_DIR/$1.state"; }

# journal UNIT MESSAGE [IDENT]: one line as systemd (or IDENT, e.g. "rachel8[42]") would log it.
journal() {
  local host stamp
  read -r host </proc/sys/kernel/hostname
  printf -v stamp '%(%b %d %H:%M:%S)T' -1
  printf '%s\t%s %s %s: %s\n' "$1" "$stamp" "$host" "${3:-systemd[1]}" "$2" >>"$JOURNAL"
}
