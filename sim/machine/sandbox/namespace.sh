# Runs once per machine as "root" (pid 1) inside fresh user+mount+pid+net+ipc+uts+cgroup namespaces
# (see namespace.ts): makes the sandbox directory the whole filesystem, then stays alive holding those
# namespaces, which every command of the box enters (enter.sh). Until the pivot, the host's tree is
# visible, so nothing the box controls may be used as a mount SOURCE before it (targets are harmless:
# mounts land in this private namespace and are detached with the old root).
# Usage: sh -c "$(cat namespace.sh)" namespace ROOT HOSTNAME HOST_MOUNTS... -- BOX_MOUNTS... (see mounts.ts)
# stdout: "ready PID" once the filesystem is in place, PID being this process as the host sees it;
# stdin: the holder lives until it closes (the shell's read waits for that: no cat process).
set -eu
root=$1
# The machine's hostname, which every command shares.
hostname "$2" 2>/dev/null || true
shift 2
# /proc is still the host's, so "self" is our pid out there (read by the shell itself: no child).
read -r host_pid _ </proc/self/stat
mount_one() { if [ "$1" = proc ]; then mount -t proc -o "$3" proc "$2"; else mount --bind -o "$3" "$1" "$2"; fi; }

while [ "$1" != -- ]; do mount_one "$1" "$2" "$3"; shift 3; done
shift
# Swap roots and detach the old one, so no path (not even a chroot escape) leads back to the host.
cd "$root"
pivot_root . .
umount -l .
cd /
while [ "$#" -ge 3 ]; do mount_one "$1" "$2" "$3"; shift 3; done
echo "ready $host_pid"
while read -r _; do :; done
