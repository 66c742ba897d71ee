#!/bin/bash
# The stand-in's service manager, in place of systemd as PID 1: started at boot, alive until the machine is
# destroyed. systemctl writes "start|stop UNIT TOKEN" lines to the control FIFO; a runner per unit runs
# ExecStart= as User= in WorkingDirectory= with only the manager's environment, appends its output to the
# journal, restarts it per Restart= after RestartSec= until StartLimitBurst= starts fall within
# StartLimitIntervalSec=, stops it with SIGTERM (SIGKILL after TimeoutStopSec=), and appends TOKEN to the
# acks file once the request took effect. Every wait is multiplied by the time scale; the start limit counts
# on a clock that adds back what scaling took off each RestartSec=, so it trips after as many starts as on a
# real box (and holds for manual starts too, until reset-failed).
# Usage: bash supervisor.sh TIME_SCALE
set -u
# shellcheck source=units.sh
. /opt/sim/lib/sim-units.sh

# micros DECIMAL: sets $us to the decimal number in millionths.
micros() {
  local whole=${1%%.*} fraction=000000
  if [[ $1 == *.* ]]; then fraction=${1#*.}000000; fi
  us=$((10#${whole:-0} * 1000000 + 10#${fraction:0:6}))
}
micros "$1"
scale_ppm=$us

# span SPAN: sets $us to the systemd time span ("5s", "100ms", "5min", bare seconds) in µs, $scaled to it
# multiplied by the time scale, and $seconds to that as sleep(1) takes it.
span() {
  micros "${1%%[!0-9.]*}"
  case ${1##*[0-9.]} in
    ms) us=$((us / 1000)) ;;
    us) us=$((us / 1000000)) ;;
    min | m) us=$((us * 60)) ;;
    h) us=$((us * 3600)) ;;
  esac
  scaled=$((us * scale_ppm / 1000000))
  printf -v seconds '%d.%06d' $((scaled / 1000000)) $((scaled % 1000000))
}

ack() { if [ -n "$1" ]; then echo "$1" >>"$ACKS"; fi; }

# start_allowed: records a start of $unit on its clock; fails when StartLimitBurst= starts already fall
# within StartLimitIntervalSec=.
start_allowed() {
  local file=$STATE_DIR/$unit.starts now=$((${EPOCHREALTIME/./} + skipped)) start kept=()
  if [ -f "$file" ]; then
    while read -r start; do if ((now - start < window)); then kept+=("$start"); fi; done <"$file"
  fi
  ((${#kept[@]} < ${keys[StartLimitBurst]:-5})) || return 1
  printf '%s\n' "${kept[@]}" "$now" >"$file"
}

# Starts ExecStart= in the background as $main, its output relayed to the journal as IDENT[pid] by $relay;
# the service tells the relay its pid as the first line. Plain words run directly, as systemd runs them;
# anything a shell would interpret goes through sh.
spawn_service() {
  local home=/root login=root shell=/bin/sh command=${keys[ExecStart]#[@:+!-]} user=${keys[User]:-}
  if [ -n "$user" ] && entry=$(getent passwd "$user"); then home=${entry%:*} login=$user shell=${entry##*:}; fi
  home=${home##*:}
  local program=${command%% *}
  local ident=${keys[SyslogIdentifier]:-${program##*/}}
  exec {output}> >(
    read -r pid
    while IFS= read -r line; do journal "$unit" "$line" "$ident[$pid]"; done
  )
  relay=$!
  (
    case $command in
      *[\"\'\\\$\;\&\|\<\>\*\?\[\`]*) set -- /bin/sh -c "exec $command" ;;
      *) read -ra words <<<"$command" && set -- "${words[@]}" ;;
    esac
    export PATH="$MANAGER_PATH" HOME="$home" USER="$login" LOGNAME="$login" SHELL="$shell" LANG="$MANAGER_LANG"
    echo "$BASHPID"
    workdir=${keys[WorkingDirectory]:-/}
    cd "${workdir#-}" 2>/dev/null || cd /
    exec "$@"
  ) >&"$output" 2>&1 {output}>&- </dev/null 3>&- 6>&- &
  main=$!
  exec {output}>&-
}

# Waits for the service to end (SIGKILL once TimeoutStopSec= has passed after a stop), then for its relay.
await_service() {
  wait "$main"
  code=$?
  if [ "$stopping" = yes ]; then
    span "${keys[TimeoutStopSec]:-90s}"
    (read -r -t "$seconds" -u 6 _ || kill -KILL "$main" 2>/dev/null) &
    wait "$main"
    code=$?
    kill $! 2>/dev/null
  fi
  # A leftover child holding the output open is not waited for long.
  (read -r -t 1 -u 6 _ || kill "$relay" 2>/dev/null) &
  wait "$relay" 2>/dev/null
  kill $! 2>/dev/null
}

run_unit() {
  stopping=no main=""
  trap 'stopping=yes; [ -z "$main" ] || kill -TERM "$main" 2>/dev/null' TERM
  unit=$1 token=$2 restarts=0 skipped=0
  load_unit "$UNIT_DIR/$unit"
  title "$unit"
  span "${keys[StartLimitIntervalSec]:-10s}"
  window=$us
  span "${keys[RestartSec]:-100ms}"
  while [ "$stopping" = no ]; do
    if ! start_allowed; then
      journal "$unit" "$unit: Start request repeated too quickly."
      journal "$unit" "$unit: Failed with result 'start-limit-hit'."
      journal "$unit" "Failed to start $title."
      set_state "$unit" failed
      ack "$token"
      return
    fi
    spawn_service
    # A stop that came while the service was being spawned found no process to signal: signal it now.
    [ "$stopping" = no ] || kill -TERM "$main" 2>/dev/null
    set_state "$unit" active
    journal "$unit" "Started $title."
    ack "$token"
    token=""
    await_service
    main=""
    [ "$stopping" = no ] || break
    if [ "$code" = 0 ]; then
      journal "$unit" "$unit: Deactivated successfully."
      [ "${keys[Restart]:-no}" = always ] || { set_state "$unit" inactive; return; }
    else
      journal "$unit" "$unit: Main process exited, code=exited, status=$code/FAILURE"
      journal "$unit" "$unit: Failed with result 'exit-code'."
      case ${keys[Restart]:-no} in always | on-failure) ;; *) set_state "$unit" failed && return ;; esac
    fi
    set_state "$unit" activating
    span "${keys[RestartSec]:-100ms}"
    skipped=$((skipped + us - scaled))
    read -r -t "$seconds" -u 6 _ &
    main=$!
    wait "$main"
    main=""
    [ "$stopping" = no ] || break
    restarts=$((restarts + 1))
    journal "$unit" "$unit: Scheduled restart job, restart counter is at $restarts."
  done
  journal "$unit" "Stopped $title."
  set_state "$unit" inactive
  read -r token 2>/dev/null <"$STATE_DIR/$unit.stop-token" || token=""
  ack "$token"
}

# The machine holds stdin open for the box's lifetime; its end means the machine is gone: end every process.
exec 5<&0
(while read -r -u 5 _; do :; done; kill -KILL -1) &
exec 5<&-
# A service gets exactly what spawn_service exports, as under env -i.
for name in $(compgen -e) OLDPWD; do export -n "$name"; done

mkdir -p "$STATE_DIR" "${JOURNAL%/*}"
rm -f "$CONTROL" "$IDLE"
mkfifo -m 600 "$CONTROL" "$IDLE"
# Held open for reading and writing: requests never see a closed pipe, and reading never hits EOF.
exec 3<>"$CONTROL" 6<>"$IDLE"
while IFS=' ' read -r verb unit token <&3; do
  case $unit in '' | */* | .*) continue ;; esac
  state_of "$unit"
  case $verb:$unit_state in
    start:inactive | start:failed)
      if [ -f "$UNIT_DIR/$unit" ]; then
        # Set before the fork, so a second start arriving meanwhile finds the unit busy.
        set_state "$unit" activating
        run_unit "$unit" "$token" &
        echo "$!" >"$STATE_DIR/$unit.runner"
      else
        ack "$token"
      fi ;;
    stop:active | stop:activating)
      echo "$token" >"$STATE_DIR/$unit.stop-token"
      load_unit "$UNIT_DIR/$unit" && title "$unit"
      journal "$unit" "Stopping $title..."
      set_state "$unit" deactivating
      read -r runner <"$STATE_DIR/$unit.runner"
      kill -TERM "$runner" ;;
    *) ack "$token" ;;
  esac
done
