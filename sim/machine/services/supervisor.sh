#!/bin/sh
# The box's service manager, standing in for systemd as PID 1: started once per boot by the machine and
# alive until it is destroyed. The simulated systemctl sends "start|stop UNIT TOKEN" lines to the control
# FIFO; a runner per unit executes ExecStart= (WorkingDirectory=, User= as far as the box allows), sends
# its output to the journal, honours Restart=, RestartSec=, StartLimitBurst=/StartLimitIntervalSec= and
# TimeoutStopSec=, and writes TOKEN to <state>/ack once the request took effect.
# Usage: sh supervisor.sh TIME_SCALE   (every unit duration is multiplied by it)
set -u
# shellcheck source=units.sh
. /opt/sim/lib/sim-units.sh
scale=$1
host=$(hostname)

# A systemd time span ("5s", "500ms", "1min", "2h", bare seconds) in seconds, multiplied by $2 (default 1).
seconds() {
  awk -v span="$1" -v factor="${2:-1}" 'BEGIN {
    n = span + 0; unit = span; sub(/^[0-9.]+[ ]*/, "", unit)
    if (unit == "ms") n /= 1000; else if (unit == "us") n /= 1000000
    else if (unit == "min" || unit == "m") n *= 60; else if (unit == "h") n *= 3600
    printf "%.6f", n * factor }'
}
scaled() { seconds "$1" "$scale"; }

# The unit's simulated clock: real time plus the part of every RestartSec= wait that scaling skipped, so
# the start limit counts starts as a real box would, however fast restarts come at a small time scale.
clock_now() {
  awk -v now="$(date +%s.%N)" -v skipped="$(cat "$STATE_DIR/$1/skipped" 2>/dev/null || echo 0)" \
    'BEGIN { printf "%.6f", now + skipped }'
}
skip_time() {
  awk -v before="$(cat "$STATE_DIR/$1/skipped" 2>/dev/null || echo 0)" -v add="$2" \
    'BEGIN { printf "%.6f\n", before + add }' >"$STATE_DIR/$1/skipped.tmp"
  mv -f "$STATE_DIR/$1/skipped.tmp" "$STATE_DIR/$1/skipped"
}

ack() { [ -z "$2" ] || echo "$2" >"$STATE_DIR/$1/ack"; }

# Records a start; fails when StartLimitBurst starts already happened within StartLimitIntervalSec.
start_allowed() {
  starts="$STATE_DIR/$1/starts"
  now=$(clock_now "$1")
  kept=$(awk -v now="$now" -v window="$3" 'now - $1 < window' "$starts" 2>/dev/null || true)
  count=$(printf '%s' "$kept" | grep -c . || true)
  [ "$count" -lt "$2" ] || return 1
  { [ -z "$kept" ] || printf '%s\n' "$kept"; echo "$now"; } >"$starts"
}

# Why ExecStart cannot begin, as systemd's exit status (200/CHDIR, 203/EXEC, 217/USER), or nothing.
spawn_problem() {
  if [ -n "$user" ] && ! getent passwd "$user" >/dev/null; then
    echo "217 USER Failed to determine user credentials: No such process"
  elif [ -n "$workdir" ] && [ ! -d "$workdir" ]; then
    echo "200 CHDIR Changing to the requested working directory failed: No such file or directory"
  elif [ ! -x "$program" ]; then
    echo "203 EXEC Failed to locate executable $program: No such file or directory"
  fi
}

# Starts ExecStart in the background as $main, its output relayed to the journal as $ident[pid].
spawn_service() {
  fifo="$STATE_DIR/$unit/output"
  rm -f "$fifo"
  mkfifo "$fifo"
  home=/root login=root shell=/bin/sh
  if [ -n "$user" ]; then
    entry=$(getent passwd "$user")
    home=$(echo "$entry" | cut -d: -f6) login=$user shell=$(echo "$entry" | cut -d: -f7)
  fi
  (
    cd "${workdir:-/}" &&
      exec env -i PATH=/opt/sim/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME="$home" USER="$login" LOGNAME="$login" SHELL="$shell" LANG=C.UTF-8 \
        /bin/sh -c "exec $exec_start"
  ) >"$fifo" 2>&1 </dev/null &
  main=$!
  (
    while IFS= read -r line; do
      printf '%s\t%s %s %s[%s]: %s\n' "$unit" "$(date '+%b %d %H:%M:%S')" "$host" "$ident" "$main" "$line" >>"$JOURNAL"
    done
  ) <"$fifo" &
  relay=$!
}

# Waits for the service to exit (after a stop request: TERM, then KILL after TimeoutStopSec); sets $code.
await_service() {
  wait "$main"
  code=$?
  if [ "$stopping" = yes ]; then
    (sleep "$stop_timeout" && kill -KILL "$main" 2>/dev/null) &
    killer=$!
    wait "$main"
    code=$?
    kill "$killer" 2>/dev/null
  fi
  # The relay ends when the service's output closes; a leftover child holding it open is not waited for.
  (sleep 1 && kill "$relay" 2>/dev/null) &
  bound=$!
  wait "$relay" 2>/dev/null
  kill "$bound" 2>/dev/null
  main=""
}

stopped() {
  journal "$unit" "Stopped $name."
  set_state "$unit" inactive
  ack "$unit" "$(cat "$STATE_DIR/$unit/stop-token" 2>/dev/null)"
}

# Logs how the main process ended and whether Restart= applies; returns 0 to restart.
ended() {
  if [ "$code" = 0 ]; then
    journal "$unit" "$unit: Deactivated successfully."
    [ "$restart" = always ]
    return
  fi
  if [ "$code" -gt 128 ] && [ "$code" -lt 160 ]; then
    signal=$(kill -l "$((code - 128))" 2>/dev/null || echo "$((code - 128))")
    journal "$unit" "$unit: Main process exited, code=killed, status=$((code - 128))/$signal"
    journal "$unit" "$unit: Failed with result 'signal'."
  else
    journal "$unit" "$unit: Main process exited, code=exited, status=$code/${reason:-FAILURE}"
    journal "$unit" "$unit: Failed with result 'exit-code'."
  fi
  case $restart in always|on-failure) return 0 ;; *) return 1 ;; esac
}

run_unit() {
  stopping=no main=""
  # First, so a stop that arrives while the unit file is still being read is not lost.
  trap 'stopping=yes; [ -z "$main" ] || kill -TERM "$main" 2>/dev/null' TERM
  unit=$1 token=$2
  file=$UNIT_DIR/$unit
  name=$(title "$unit" "$file")
  exec_start=$(unit_value "$file" ExecStart "" | sed 's/^[-@:+!]*//')
  program=${exec_start%% *}
  case $program in /*) ;; *) program=$(command -v "$program" || echo "$program") ;; esac
  workdir=$(unit_value "$file" WorkingDirectory "" | sed 's/^-//')
  user=$(unit_value "$file" User "")
  restart=$(unit_value "$file" Restart no)
  restart_span=$(unit_value "$file" RestartSec 100ms)
  restart_sec=$(scaled "$restart_span")
  restart_skipped=$(seconds "$restart_span" "$(awk -v k="$scale" 'BEGIN { print 1 - k }')")
  stop_timeout=$(scaled "$(unit_value "$file" TimeoutStopSec 90s)")
  burst=$(unit_value "$file" StartLimitBurst 5)
  interval=$(seconds "$(unit_value "$file" StartLimitIntervalSec 10s)")
  ident=$(unit_value "$file" SyslogIdentifier "${program##*/}")
  restarts=0
  while :; do
    if [ "$stopping" = yes ]; then stopped; return; fi
    if ! start_allowed "$unit" "$burst" "$interval"; then
      journal "$unit" "$unit: Start request repeated too quickly."
      journal "$unit" "$unit: Failed with result 'start-limit-hit'."
      journal "$unit" "Failed to start $name."
      set_state "$unit" failed
      ack "$unit" "$token"
      return
    fi
    problem=$(spawn_problem)
    reason=""
    [ -n "$problem" ] || spawn_service
    set_state "$unit" active
    journal "$unit" "Started $name."
    # As systemd logs it: the unit has started before its process finds it cannot exec.
    if [ -n "$problem" ]; then
      code=${problem%% *} reason=${problem#* } message=${reason#* } reason=${reason%% *}
      journal "$unit" "$unit: $message"
    fi
    ack "$unit" "$token"
    token=""
    [ -n "$problem" ] || await_service
    if [ "$stopping" = yes ]; then stopped; return; fi
    if ! ended; then
      if [ "$code" = 0 ]; then set_state "$unit" inactive; else set_state "$unit" failed; fi
      return
    fi
    set_state "$unit" activating
    sleep "$restart_sec" &
    main=$!
    wait "$main"
    main=""
    if [ "$stopping" = yes ]; then stopped; return; fi
    skip_time "$unit" "$restart_skipped"
    restarts=$((restarts + 1))
    journal "$unit" "$unit: Scheduled restart job, restart counter is at $restarts."
    journal "$unit" "Stopped $name."
  done
}

# A runner sets a final state (inactive, failed) as its last act, so the state says whether one is alive.
runner_alive() {
  case $(state_of "$1") in active|activating|deactivating) return 0 ;; *) return 1 ;; esac
}

# The machine holds stdin open for the box's lifetime. Its end means the machine is gone (even if this
# process escaped the launcher's kill, which can happen in the instant after a fork): end every process.
# (A background job's stdin would be /dev/null, so it reads a copy taken as fd 5.)
exec 5<&0
(cat <&5 >/dev/null; kill -KILL -1) &
exec 5<&-

mkdir -p "$STATE_DIR" "${JOURNAL%/*}"
rm -f "$CONTROL"
mkfifo -m 600 "$CONTROL"
# Held open for reading and writing: requests never see a closed pipe, and reading never hits EOF.
exec 3<>"$CONTROL"
while IFS=' ' read -r verb unit token <&3; do
  case $unit in ''|*/*|.*) continue ;; esac
  mkdir -p "$STATE_DIR/$unit"
  case $verb in
    start)
      if runner_alive "$unit"; then ack "$unit" "$token"; continue; fi
      [ -f "$UNIT_DIR/$unit" ] || { ack "$unit" "$token"; continue; }
      # Set before the fork, so a second start arriving meanwhile finds the unit busy.
      set_state "$unit" activating
      run_unit "$unit" "$token" &
      echo "$!" >"$STATE_DIR/$unit/runner" ;;
    stop)
      if runner_alive "$unit"; then
        echo "$token" >"$STATE_DIR/$unit/stop-token"
        journal "$unit" "Stopping $(title "$unit" "$UNIT_DIR/$unit")..."
        set_state "$unit" deactivating
        kill -TERM "$(cat "$STATE_DIR/$unit/runner")"
      else
        ack "$unit" "$token"
      fi ;;
  esac
done
