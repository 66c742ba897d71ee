# Runs as "root" for each command of the box, already inside the machine's namespaces and root (see
# namespace.sh) and in a pid namespace, /proc and hostname of its own; then runs the command.
# Usage: sh -c "$(cat enter.sh)" enter HOSTNAME HOME COMMAND [ARG...]
set -eu
name=$1
home=$2
shift 2
# The box's own /etc/hostname wins (cloud-init may have set it); the server name until then, or when the file
# holds no valid name (systemd falls back the same way).
configured=""
read -r configured 2>/dev/null </etc/hostname || true
read -r current </proc/sys/kernel/hostname
if [ "${configured:-$name}" != "$current" ]; then
  hostname "${configured:-$name}" 2>/dev/null || hostname "$name"
fi
cd "$home" 2>/dev/null || cd /
# Run as a child, not exec'd: pid 1 would ignore the signals a command expects to die of.
set +e
"$@"
exit "$?"
