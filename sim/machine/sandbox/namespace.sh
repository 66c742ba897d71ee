# Runs once per machine as "root" (pid 1) inside fresh user+mount+pid+net+ipc+uts+cgroup namespaces
# (see namespace.ts): makes the sandbox directory the whole filesystem, then stays alive holding those
# namespaces, which every command of the box enters (enter.sh). Until the pivot, the host's tree is
# visible, so nothing the box controls may be used as a mount SOURCE before it (targets are harmless:
# mounts land in this private namespace and are detached with the old root).
# Usage: sh -c "$(cat namespace.sh)" namespace ROOT
# stdout: "ready PID" once the filesystem is in place, PID being this process as the host sees it;
# stdin: the holder lives until it closes.
set -eu
root=$1
# /proc is still the host's, so "self" is our pid out there (read by the shell itself: no child).
read -r host_pid _ </proc/self/stat

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
echo "ready $host_pid"
exec cat >/dev/null
