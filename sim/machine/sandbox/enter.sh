# Runs as "root" for each command of the box, already inside the machine's namespaces and root (see
# namespace.sh) and in a pid namespace, /proc and hostname of its own; then runs the command.
# Usage: sh -c "$(cat enter.sh)" enter HOSTNAME HOME direct COMMAND [ARG...]
#        sh -c "$(cat enter.sh)" sh HOSTNAME HOME script SCRIPT [ARG...]
# "direct" runs COMMAND with the stdin, stdout and stderr it was given (an SSH session's are pipes, as sshd
# gives them; see os-pipe.ts); "script" runs the simulator's own SCRIPT in this shell, as
# `sh -c SCRIPT sh ARG...` would.
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
# Run as a child, not exec'd: pid 1 would ignore the signals a command expects to die of.
set +e
"$@"
exit "$?"
