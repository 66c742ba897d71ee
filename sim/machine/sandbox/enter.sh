# Runs as "root" for each command of the box, already inside the machine's namespaces and root (see
# namespace.sh) and in a pid namespace and /proc of its own; then runs the command.
# Usage: sh -c "$(cat enter.sh)" enter HOME COMMAND [ARG...]
set -eu
cd "$1" 2>/dev/null || cd /
shift
# Run as a child, not exec'd: pid 1 would ignore the signals a command expects to die of.
set +e
"$@"
exit "$?"
