#!/bin/bash
# The box's service manager, standing in for systemd as PID 1: started once per boot by the machine and
# alive until it is destroyed. The simulated systemctl sends "start|stop UNIT TOKEN" lines to the control
# FIFO; a runner per unit executes ExecStart= (WorkingDirectory=, User= as far as the box allows), sends
# its output to the journal, honours Restart=, RestartSec=, StartLimitBurst=/StartLimitIntervalSec= and
# TimeoutStopSec=, and appends TOKEN to /run/sim-systemd/acks once the request took effect.
# Usage: bash supervisor.sh TIME_SCALE   (every unit duration is multiplied by it)
# Bash, not sh: its builtins tell the time (EPOCHREALTIME, printf %(...)T) and do the arithmetic that every
# start, restart and journal line needs, where date and awk would cost the host a process each.
set -u
# shellcheck source=units.sh
. /opt/sim/lib/sim-units.sh
# shellcheck source=../shims/passwd.sh
. /opt/sim/lib/sim-passwd.sh
# shellcheck source=unit-clock.bash
. /opt/sim/lib/sim-unit-clock.bash
scale=$1
span_us "$scale"
scale_ppm=$us
read -r host </proc/sys/kernel/hostname

# One line per acknowledged request, appended whole (O_APPEND), which the requester looks for (see systemctl).
ack() {
  [ -n "$2" ] || return 0
  echo "$2" >>"$ACKS"
}

# Sets $problem to why ExecStart cannot begin, as systemd's exit status (200/CHDIR, 203/EXEC, 217/USER), or "".
spawn_problem() {
  problem=""
  if [ -n "$user" ] && ! passwd_entry "$user"; then
    problem="217 USER Failed to determine user credentials: No such process"
  elif [ -n "$workdir" ] && [ ! -d "$workdir" ]; then
    problem="200 CHDIR Changing to the requested working directory failed: No such file or directory"
  elif [ ! -x "$program" ]; then
    problem="203 EXEC Failed to locate executable $program: No such file or directory"
  fi
}

# Starts ExecStart in the background as $main, its output relayed to the journal as $ident[pid] by $relay,
# which reads it through a pipe of bash's own (a process substitution: no FIFO to make). The relay starts
# first, so the service tells it its pid as the pipe's first line, before it can print anything itself.
spawn_service() {
  home=/root login=root shell=/bin/sh
  if [ -n "$user" ] && passwd_entry "$user"; then
    home=$entry_home login=$user shell=$entry_shell
  fi
  exec {output}> >(
    read -r pid
    while IFS= read -r line; do
      journal_stamp
      printf '%s\t%s %s %s[%s]: %s\n' "$unit" "$stamp" "$host" "$ident" "$pid" "$line" >>"$JOURNAL"
    done
  )
  relay=$!
  (
    # Plain words are split here and run directly, as systemd does; anything a shell would interpret goes
    # through sh as before (one process more).
    case $exec_start in
      *[\"\'\\\$\;\&\|\<\>\*\?\[\`]*) set -- /bin/sh -c "exec $exec_start" ;;
      *) read -ra words <<<"$exec_start"; set -- "${words[@]}" ;;
    esac
    # The service's whole environment, as env -i would give it (nothing else is exported: see the boot).
    export PATH="$MANAGER_PATH" HOME="$home" USER="$login" LOGNAME="$login" SHELL="$shell" LANG="$MANAGER_LANG"
    echo "$BASHPID"
    cd "${workdir:-/}" && exec "$@"
  ) >&"$output" 2>&1 {output}>&- </dev/null 3>&- 6>&- &
  main=$!
  exec {output}>&-
}

# pause SECONDS: waits that long on the idle FIFO (fd 6: nothing is ever written to it), a sleep without a
# process. Only for the timers of background subshells: a trapped signal does not cut bash's read short.
pause() { read -r -t "$1" -u 6 _ || [ $? -gt 128 ]; }

# Waits for the service to exit (after a stop request: TERM, then KILL after TimeoutStopSec); sets $code.
await_service() {
  wait "$main"
  code=$?
  if [ "$stopping" = yes ]; then
    (pause "$stop_timeout" && kill -KILL "$main" 2>/dev/null) &
    killer=$!
    wait "$main"
    code=$?
    kill "$killer" 2>/dev/null
  fi
  # The relay ends when the service's output closes; a leftover child holding it open is not waited for.
  (pause 1 && kill "$relay" 2>/dev/null) &
  bound=$!
  wait "$relay" 2>/dev/null
  kill "$bound" 2>/dev/null
  main=""
}

stopped() {
  journal "$unit" "Stopped $name."
  set_state "$unit" inactive
  stop_token=""
  read -r stop_token 2>/dev/null <"$STATE_DIR/$unit.stop-token" || true
  ack "$unit" "$stop_token"
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

# Reads what run_unit needs from the unit file in one pass; the last value of a key wins, an empty one
# means the default, as in systemd. ExecStart= loses its -@:+! prefixes, WorkingDirectory= its "-".
load_unit() {
  exec_start="" workdir="" user="" restart="" restart_span="" stop_span="" burst="" interval_span=""
  ident="" description=""
  unit_line() {
    case $1 in
      ExecStart) exec_start=$2 ;;
      WorkingDirectory) workdir=${2#-} ;;
      User) user=$2 ;;
      Restart) restart=$2 ;;
      RestartSec) restart_span=$2 ;;
      TimeoutStopSec) stop_span=$2 ;;
      StartLimitBurst) burst=$2 ;;
      StartLimitIntervalSec) interval_span=$2 ;;
      SyslogIdentifier) ident=$2 ;;
      Description) description=$2 ;;
    esac
  }
  unit_lines "$1"
  exec_start=${exec_start#"${exec_start%%[!@:+!-]*}"}
  restart=${restart:-no} restart_span=${restart_span:-100ms} stop_span=${stop_span:-90s}
  burst=${burst:-5} interval_span=${interval_span:-10s}
}

run_unit() {
  stopping=no main=""
  # First, so a stop that arrives while the unit file is still being read is not lost.
  trap 'stopping=yes; [ -z "$main" ] || kill -TERM "$main" 2>/dev/null' TERM
  unit=$1 token=$2
  load_unit "$UNIT_DIR/$unit"
  if [ -n "$description" ]; then name="$unit - $description"; else name=$unit; fi
  program=${exec_start%% *}
  case $program in /*) ;; *) program=$(command -v "$program" || echo "$program") ;; esac
  ident=${ident:-${program##*/}}
  time_spans
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
    spawn_problem
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
  state_of "$1"
  case $unit_state in active|activating|deactivating) return 0 ;; *) return 1 ;; esac
}

# The machine holds stdin open for the box's lifetime. Its end means the machine is gone (even if this
# process escaped the launcher's kill, which can happen in the instant after a fork): end every process.
# (A background job's stdin would be /dev/null, so it reads a copy taken as fd 5; read is a builtin.)
exec 5<&0
(while read -r -u 5 _; do :; done; kill -KILL -1) &
exec 5<&-

# Nothing of the box's own environment is passed on: a service gets exactly what spawn_service exports, as
# under env -i. (OLDPWD is exported by bash before it is ever set, so compgen does not list it yet.)
for name in $(compgen -e) OLDPWD; do export -n "$name"; done

# systemd's directories: its runtime state, the journal, and the default target's wants directory (a stock
# image ships it, so enabling a unit needs no mkdir), made in one go.
mkdir -p "$STATE_DIR" "${JOURNAL%/*}" "$UNIT_DIR/multi-user.target.wants"
{ [ ! -e "$CONTROL" ] && [ ! -e "$IDLE" ]; } || rm -f "$CONTROL" "$IDLE"
mkfifo -m 600 "$CONTROL" "$IDLE"
# Held open for reading and writing: requests never see a closed pipe, and reading never hits EOF.
exec 3<>"$CONTROL" 6<>"$IDLE"
while IFS=' ' read -r verb unit token <&3; do
  case $unit in ''|*/*|.*) continue ;; esac
  case $token in *[!0-9a-f-]*) continue ;; esac
  case $verb in
    start)
      if runner_alive "$unit"; then ack "$unit" "$token"; continue; fi
      [ -f "$UNIT_DIR/$unit" ] || { ack "$unit" "$token"; continue; }
      # Set before the fork, so a second start arriving meanwhile finds the unit busy.
      set_state "$unit" activating
      run_unit "$unit" "$token" &
      echo "$!" >"$STATE_DIR/$unit.runner" ;;
    stop)
      if runner_alive "$unit"; then
        echo "$token" >"$STATE_DIR/$unit.stop-token"
        title "$unit" "$UNIT_DIR/$unit"
        journal "$unit" "Stopping $title..."
        set_state "$unit" deactivating
        read -r runner <"$STATE_DIR/$unit.runner"
        kill -TERM "$runner"
      else
        ack "$unit" "$token"
      fi ;;
  esac
done
