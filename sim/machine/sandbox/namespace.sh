# Runs once per machine as "root" (pid 1) inside fresh user+mount+pid+net+ipc+uts+cgroup namespaces
# (see namespace.ts): makes the sandbox directory the whole filesystem, then stays alive holding those
# namespaces, which every command of the box enters (enter.sh). Until the pivot, the host's tree is
# visible, so nothing the box controls may be used as a mount SOURCE before it (targets are harmless:
# mounts land in this private namespace and are detached with the old root).
# Usage: sh -c "$(cat namespace.sh)" namespace ROOT HOSTNAME
# The mounts come as two fstab(5) lists the simulator wrote into the box's /run (see mounts.ts): the
# host's, mounted before the pivot, and the box's own, after it.
# stdout: "ready PID" once the filesystem is in place, PID being this process as the host sees it;
# stdin: the holder lives until it closes (the shell's read waits for that: no cat process).
set -eu
root=$1
# The machine's hostname, which every command shares.
hostname "$2" 2>/dev/null || true
# /proc is still the host's, so "self" is our pid out there (read by the shell itself: no child).
read -r host_pid _ </proc/self/stat

mount -a --fstab "$root/run/sim-mounts-host"
# Swap roots and detach the old one, so no path (not even a chroot escape) leads back to the host.
cd "$root"
pivot_root . .
umount -l .
cd /
if [ -s /run/sim-mounts-box ]; then mount -a --fstab /run/sim-mounts-box; fi
echo "ready $host_pid"
while read -r _; do :; done
