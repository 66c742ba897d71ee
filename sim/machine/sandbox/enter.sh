# Runs as "root" for each command of the box, already inside the machine's namespaces and root (see
# namespace.sh) and in a pid namespace, /proc and hostname of its own; then runs the command.
# Usage: sh -c "$(cat enter.sh)" enter HOSTNAME HOME direct COMMAND [ARG...]
#        bash -c "$(cat enter.sh)" enter HOSTNAME HOME pipes COMMAND [ARG...]
#        sh -c "$(cat enter.sh)" sh HOSTNAME HOME script SCRIPT [ARG...]
# "pipes" relays stdin/stdout/stderr through pipes, as sshd gives them; "direct" leaves them as given;
# "script" runs the simulator's own SCRIPT in this shell, as `sh -c SCRIPT sh ARG...` would.
# Only "pipes" needs bash (process substitution, below); sh exits before it ever reads that part.
set -eu
name=$1
home=$2
mode=$3
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
if [ "$mode" = script ]; then
  # No sh of its own (a process less): this shell's state is cleared first, as a fresh sh would have it.
  unset name home mode configured current
  set +eu
  eval "shift; $1"
  exit
fi
if [ "$mode" = direct ]; then
  # Run as a child, not exec'd: pid 1 would ignore the signals a command expects to die of.
  set +e
  "$@"
  exit "$?"
fi

# The simulator hands us sockets, but on a real box sshd gives a command pipes, and tools rely on that
# (`install -m 600 /dev/stdin FILE` cannot open a socket). bash's process substitutions make the three
# pipes and their relays (one cat each) before the command starts, and nothing on the filesystem (no
# FIFO to make or remove), so a command that deletes /run (or all of /) or kills every process cannot
# wedge its own session. Each relay closes the other pipes' ends, so each sees its end of file.
exec 3<&0 </dev/null
exec 5> >(exec cat 3<&-)
out=$!
exec 6> >(exec cat >&2 3<&- 5>&-)
err=$!
exec 7< <(exec cat <&3 3<&- 5>&- 6>&-)
set +e
"$@" <&7 >&5 2>&6 3<&- 5>&- 6>&- 7<&-
status=$?
exec 5>&- 6>&- 7<&-
# The output is relayed whole before the exit status goes out; the stdin relay is not waited for (it
# may still be reading while the client keeps its input open).
wait "$out" "$err"
# As pid 1 of this command's namespace, exiting ends the stdin relay too: input the command never read is
# dropped, as sshd drops it when the command exits.
exit "$status"
