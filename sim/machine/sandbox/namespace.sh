# Runs once per machine as "root" (pid 1) inside fresh user+mount+pid+net+ipc+uts+cgroup namespaces
# (see namespace.ts): makes the sandbox directory the whole filesystem, then stays alive holding those
# namespaces, which every command of the box enters (enter.sh). Until the pivot, the host's tree is
# visible, so nothing the box controls may be used as a mount SOURCE before it (targets are harmless:
# mounts land in this private namespace and are detached with the old root).
# Usage: sh -c "$(cat namespace.sh)" namespace ROOT ROOT_IN_FSTAB HOSTNAME
# (ROOT_IN_FSTAB is ROOT escaped as fstab(5) wants it.)
# stdout: "ready PID" once the filesystem is in place, PID being this process as the host sees it;
# stdin: the holder lives until it closes (the shell's read waits for that: no cat process).
# Each group of mounts is one mount(8) over a list (every process costs the host a millisecond, and each
# machine needs a score of mounts); the list is written where the box will find its /run, before the box
# has ever run, and left for the simulator to remove (namespace.ts) before any command of the box runs.
# printf, not echo, writes it: echo would decode the escapes.
set -eu
root=$1
fstab_root=$2
# Every command's own hostname starts as this one (enter.sh sets another only when /etc/hostname says so).
hostname "$3" 2>/dev/null || true
# /proc is still the host's, so "self" is our pid out there (read by the shell itself: no child).
read -r host_pid _ </proc/self/stat

# pivot_root needs the new root to be a mount point.
mount --bind "$root" "$root"
{
  # The host's programs, read-only and without setuid: the box can run them but not change them.
  for dir in usr bin sbin lib lib32 lib64 libx32 etc/alternatives; do
    if [ -d "/$dir" ] && [ ! -L "/$dir" ] && [ -d "$root/$dir" ]; then
      printf '%s\n' "/$dir $fstab_root/$dir none bind,ro,nosuid,nodev 0 0"
    fi
  done
  for dev in null zero full random urandom; do
    printf '%s\n' "/dev/$dev $fstab_root/dev/$dev none bind 0 0"
  done
  printf '%s\n' "proc $fstab_root/proc proc nosuid,nodev,noexec 0 0"
} >"$root/run/sim-mounts"
mount -a --fstab "$root/run/sim-mounts"

# Swap roots and detach the old one, so no path (not even a chroot escape) leads back to the host.
cd "$root"
pivot_root . .
umount -l .
cd /
{
  # /usr/local is the box's own, writable (first-boot scripts install there), and starts empty as on a
  # fresh image. After the pivot, like the shims below, so the source resolves inside the box.
  if [ -d /opt/sim/usr-local ] && [ -d /usr/local ] && [ ! -L /usr/local ]; then
    printf '%s\n' "/opt/sim/usr-local /usr/local none bind 0 0"
  fi
  # The simulated tools also answer at the host's own paths (/usr/bin/systemctl ...), where those exist.
  # Only now, after the pivot: the box controls /opt/sim/bin, so its symlinks must resolve inside the box.
  for shim in /opt/sim/bin/*; do
    tool=${shim##*/}
    case $tool in *[!A-Za-z0-9._-]*) continue ;; esac
    if [ -f "$shim" ] && [ -f "/usr/bin/$tool" ]; then
      printf '%s\n' "$shim /usr/bin/$tool none bind 0 0"
    fi
  done
} >/run/sim-mounts
if [ -s /run/sim-mounts ]; then mount -a --fstab /run/sim-mounts; fi
echo "ready $host_pid"
while read -r _; do :; done
