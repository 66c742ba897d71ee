# Runs as "root" for each command of the box, already inside the machine's namespaces and root (see
# namespace.sh) and in a pid namespace, /proc and hostname of its own; then runs the command.
# Usage: sh -c "$(cat enter.sh)" enter HOSTNAME HOME COMMAND [ARG...]
set -eu
name=$1
home=$2
shift 2

# The box's own /etc/hostname wins (cloud-init may have set it); the server name until then, or when
# the file holds no valid name (systemd falls back the same way).
configured=""
read -r configured 2>/dev/null </etc/hostname || true
hostname "${configured:-$name}" 2>/dev/null || hostname "$name"
cd "$home" 2>/dev/null || cd /

# The simulator hands us sockets, but on a real box sshd gives a command pipes, and tools rely on that
# (`install -m 600 /dev/stdin FILE` cannot open a socket). So stdin arrives through a shell pipe, and
# stdout/stderr through FIFOs drained by two relays. Everything is opened up front, so a command that
# deletes /run (or all of /) or kills every process cannot wedge its own session.
io=$(mkdir -p /run/sim-io && mktemp -d /run/sim-io/XXXXXX)
mkfifo "$io/out" "$io/err" "$io/feeder"
cat <"$io/out" &
out=$!
cat <"$io/err" >&2 &
err=$!
# fd 4 carries the stdin relay's pid to the command's side of the pipe (read-write: opening never blocks).
exec 4<>"$io/feeder"
# A background job's stdin is /dev/null, so the real one is handed over as fd 3.
exec 3<&0
set +e
sh -c 'echo "$$" >&4; exec cat <&3 3<&- 4>&-' | {
  "$@" >"$io/out" 2>"$io/err" 3<&- 4>&-
  status=$?
  # Input the command never read is dropped, as sshd drops it when the command exits (SIGPIPE,
  # because the shell reports any other signal as "Terminated").
  read -r feeder <&4 && kill -s PIPE "$feeder" 2>/dev/null
  exit "$status"
} &
job=$!
exec 3<&- 4>&- </dev/null
wait "$job"
status=$?
wait "$out" "$err"
rm -rf "$io"
exit "$status"
