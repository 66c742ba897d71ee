# shellcheck shell=bash
# Sourced by the service manager (supervisor.sh): systemd time spans in integer microseconds, and each unit's
# simulated clock, which the start limit counts on. Bash arithmetic and EPOCHREALTIME only: these run on
# every start and restart, where awk or date would cost the host a process each.
# Needs $scale_ppm (the time scale in millionths) and $STATE_DIR (units.sh).

# span_us SPAN: sets $us to a systemd time span ("5s", "500ms", "1.5min", "2h", "50us", bare seconds) in
# microseconds; an empty span is 0.
span_us() {
  local number=${1%%[!0-9.]*} unit whole fraction=""
  unit=${1#"$number"}
  unit=${unit#"${unit%%[! ]*}"}
  whole=${number%%.*}
  if [[ $number == *.* ]]; then fraction=${number#*.}; fi
  fraction=${fraction}000000
  us=$((10#${whole:-0} * 1000000 + 10#${fraction:0:6}))
  case $unit in
    ms) us=$((us / 1000)) ;;
    us) us=$((us / 1000000)) ;;
    min|m) us=$((us * 60)) ;;
    h) us=$((us * 3600)) ;;
  esac
}

# seconds_of MICROSECONDS: sets $seconds to them as sleep(1) takes them ("0.100000").
seconds_of() { printf -v seconds '%d.%06d' "$(($1 / 1000000))" "$(($1 % 1000000))"; }

# Sets restart_sec and stop_timeout (scaled, in seconds for sleep), restart_skipped (what scaling takes off
# each RestartSec=, in µs) and interval (the start limit's window, in µs) from the unit's time spans.
time_spans() {
  span_us "$restart_span"
  seconds_of "$((us * scale_ppm / 1000000))"
  restart_sec=$seconds
  restart_skipped=$((us * (1000000 - scale_ppm) / 1000000))
  span_us "$stop_span"
  seconds_of "$((us * scale_ppm / 1000000))"
  stop_timeout=$seconds
  span_us "$interval_span"
  interval=$us
}

# The skipped part of a unit's RestartSec= waits so far, in µs (see skip_time).
skipped_time() {
  skipped=0
  if [ -f "$STATE_DIR/$1.skipped" ]; then read -r skipped <"$STATE_DIR/$1.skipped" || true; fi
}
# The unit's simulated clock is real time plus the part of every RestartSec= wait that scaling skipped, so
# the start limit counts starts as a real box would, however fast restarts come at a small time scale.
skip_time() {
  skipped_time "$1"
  echo "$((skipped + $2))" >"$STATE_DIR/$1.skipped"
}

# start_allowed UNIT BURST INTERVAL_US: records a start (on the unit's simulated clock, in µs); fails when
# BURST starts already happened within the interval.
start_allowed() {
  local starts=$STATE_DIR/$1.starts now start kept=()
  skipped_time "$1"
  now=$((${EPOCHREALTIME/./} + skipped))
  if [ -f "$starts" ]; then
    while read -r start; do
      if ((now - start < $3)); then kept+=("$start"); fi
    done <"$starts"
  fi
  ((${#kept[@]} < $2)) || return 1
  printf '%s\n' "${kept[@]}" "$now" >"$starts"
}
