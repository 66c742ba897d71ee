# Runs as "root" for each command of the box, already inside the machine's namespaces and root (see
# namespace.sh) and in a pid namespace, /proc and hostname of its own; then runs the command.
# Usage: sh -c "$(cat enter.sh)" enter HOSTNAME HOME IO COMMAND [ARG...]
# IO: "pipes" relays stdin/stdout/stderr through pipes, as sshd gives them; "direct" leaves them as given.
set -eu
name=$1
home=$2
io_mode=$3
shift 3

# The box's own /etc/hostname wins (cloud-init may have set it); the server name until then, or when
# the file holds no valid name (systemd falls back the same way).
# The namespace starts with the machine's name (see namespace.sh), so usually there is nothing to set.
configured=""
read -r configured 2>/dev/null </etc/hostname || true
read -r current </proc/sys/kernel/hostname
if [ "${configured:-$name}" != "$current" ]; then
  hostname "${configured:-$name}" 2>/dev/null || hostname "$name"
fi
cd "$home" 2>/dev/null || cd /
if [ "$io_mode" = direct ]; then
  # Run as a child, not exec'd: pid 1 would ignore the signals a command expects to die of.
  set +e
  "$@"
  exit "$?"
fi

# The simulator hands us sockets, but on a real box sshd gives a command pipes, and tools rely on that
# (`install -m 600 /dev/stdin FILE` cannot open a socket). So stdin arrives through a shell pipe, and
# stdout/stderr through FIFOs drained by two relays. Everything is opened up front, so a command that
# deletes /run (or all of /) or kills every process cannot wedge its own session. The FIFOs are named
# after the kernel's uuid, read by the shell itself (mktemp would cost the host a process).
[ -d /run/sim-io ] || mkdir -p /run/sim-io
read -r id </proc/sys/kernel/random/uuid
io=/run/sim-io/$id
mkfifo "$io.out" "$io.err" "$io.status"
cat <"$io.out" &
out=$!
cat <"$io.err" >&2 &
err=$!
# A background job's stdin is /dev/null, so the real one is handed over as fd 3. The command's exit
# status comes back through a FIFO, so that nothing waits for the stdin relay (still reading while the
# client keeps its input open).
exec 3<&0
set +e
cat <&3 3<&- | {
  "$@" >"$io.out" 2>"$io.err" 5>&-
  echo "$?" >&5
} 3<&- 5>"$io.status" &
job=$!
exec 3<&- </dev/null
# No status at all: the command side was killed (by a command that kills every process, say).
if ! read -r status <"$io.status"; then
  wait "$job"
  status=$?
fi
wait "$out" "$err"
rm -f "$io.out" "$io.err" "$io.status"
# As pid 1 of this command's namespace, exiting ends the stdin relay too: input the command never read is
# dropped, as sshd drops it when the command exits.
exit "$status"
