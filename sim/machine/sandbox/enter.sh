# Runs as "root" inside fresh user+mount+pid+net+ipc+uts namespaces (see sandbox.ts); makes the
# sandbox directory the whole filesystem, then runs the command. Until the pivot, the host's tree is
# visible, so nothing the box controls may be used as a mount SOURCE before it (targets are harmless:
# mounts land in this private namespace and are detached with the old root).
# Usage: sh -c "$(cat enter.sh)" enter ROOT HOSTNAME HOME COMMAND [ARG...]
set -eu
root=$1
name=$2
home=$3
shift 3

# pivot_root needs the new root to be a mount point.
mount --bind "$root" "$root"
# The host's programs, read-only and without setuid: the box can run them but not change them.
for dir in usr bin sbin lib lib32 lib64 libx32 etc/alternatives; do
  if [ -d "/$dir" ] && [ ! -L "/$dir" ] && [ -d "$root/$dir" ]; then
    mount --bind "/$dir" "$root/$dir"
    mount -o remount,bind,ro,nosuid,nodev "$root/$dir"
  fi
done
for dev in null zero full random urandom; do
  mount --bind "/dev/$dev" "$root/dev/$dev"
done
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"

# Swap roots and detach the old one, so no path (not even a chroot escape) leads back to the host.
cd "$root"
pivot_root . .
umount -l .
cd /
# /usr/local is the box's own, writable (first-boot scripts install there), and starts empty as on a
# fresh image. After the pivot, like the shims below, so the source resolves inside the box.
if [ -d /opt/sim/usr-local ] && [ -d /usr/local ] && [ ! -L /usr/local ]; then
  mount --bind /opt/sim/usr-local /usr/local
fi
# The simulated tools also answer at the host's own paths (/usr/bin/systemctl ...), where those exist.
# Only now, after the pivot: the box controls /opt/sim/bin, so its symlinks must resolve inside the box.
for shim in /opt/sim/bin/*; do
  tool=${shim##*/}
  if [ -f "$shim" ] && [ -f "/usr/bin/$tool" ]; then
    mount --bind "$shim" "/usr/bin/$tool"
  fi
done
# The box's own /etc/hostname wins (cloud-init may have set it); the server name until then, or when
# the file holds no valid name (systemd falls back the same way).
configured=$(head -n 1 /etc/hostname 2>/dev/null || true)
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
