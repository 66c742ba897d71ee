# shellcheck shell=bash
# Sourced by the simulated systemctl (under sh or bash) and the service supervisor (bash): where units, their
# state and the journal live, and how to read them. A unit's state is /run/sim-systemd/<unit>.state (active,
# activating, deactivating, failed; absent = inactive), beside its other files (<unit>.starts, ...: no
# directory per unit to make); the journal file holds "<unit>\t<syslog-style line>". POSIX sh but for the
# journal's timestamp (bash's printf -v), which only bash callers reach.
# Unit files and state are read with shell builtins: these run on every systemctl call and unit start,
# and each extra process costs a millisecond.
UNIT_DIR=/etc/systemd/system
STATE_DIR=/run/sim-systemd
CONTROL=$STATE_DIR/control
# A FIFO nobody writes to: opened read-write, a read on it blocks until a timeout or signal (no sleep process).
IDLE=$STATE_DIR/idle
# The service manager's acknowledgements: the token of each request once it took effect, a line each.
ACKS=$STATE_DIR/acks
JOURNAL=/var/log/journal/sim-journal.tsv
# The service manager's environment, which every unit inherits (`systemctl show-environment` prints it):
# systemd's PATH for system units, behind the simulated tools.
MANAGER_PATH=/opt/sim/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
MANAGER_LANG=C.UTF-8

# unit_file UNIT: sets $file to the unit's file and returns 0 when it exists.
unit_file() { file=$UNIT_DIR/$1; [ -f "$file" ]; }

# unit_lines FILE: calls `unit_line KEY VALUE` (defined by the caller) for every KEY=VALUE line, with the
# whitespace around the key and before the value dropped, as systemd reads them. Each trim runs only where
# there is whitespace to drop: bash's pattern trims cost about 10 µs a line, and a unit is read per start.
unit_lines() {
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in *=*) ;; *) continue ;; esac
    case $line in [[:space:]]*) line=${line#"${line%%[![:space:]]*}"} ;; esac
    key=${line%%=*}
    value=${line#*=}
    case $key in *[[:space:]]) key=${key%"${key##*[![:space:]]}"} ;; esac
    case $value in [[:space:]]*) value=${value#"${value%%[![:space:]]*}"} ;; esac
    unit_line "$key" "$value"
  done <"$1"
}

# unit_value FILE KEY DEFAULT: sets $last to the last value of KEY= in the unit file, or DEFAULT.
unit_value() {
  wanted=$2 last=""
  unit_line() { if [ "$1" = "$wanted" ]; then last=$2; fi; }
  unit_lines "$1"
  last=${last:-$3}
}
# state_of UNIT: sets $unit_state.
state_of() {
  unit_state=inactive
  if [ -f "$STATE_DIR/$1.state" ]; then read -r unit_state <"$STATE_DIR/$1.state" || true; fi
}

# The state file's modification time is when the unit entered that state (systemctl status shows it).
set_state() {
  [ -d "$STATE_DIR" ] || mkdir -p "$STATE_DIR"
  echo "$2" >"$STATE_DIR/$1.state"
}

# Sets $stamp to the time as syslog shows it (bash tells it without a process).
journal_stamp() { printf -v stamp '%(%b %d %H:%M:%S)T' -1; }

# journal UNIT MESSAGE [IDENT]: one line as systemd (or IDENT, e.g. "rachel8[42]") would log it.
journal() {
  [ -d "${JOURNAL%/*}" ] || mkdir -p "${JOURNAL%/*}"
  read -r box_hostname </proc/sys/kernel/hostname
  journal_stamp
  printf '%s\t%s %s %s: %s\n' "$1" "$stamp" "$box_hostname" "${3:-systemd[1]}" "$2" >>"$JOURNAL"
}

# title UNIT FILE: sets $title to "UNIT - Description", or UNIT without one.
title() {
  unit_value "$2" Description ""
  if [ -n "$last" ]; then title="$1 - $last"; else title=$1; fi
}
