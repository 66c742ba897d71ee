# Remote half of injectSecrets (POSIX sh): writes secret files (0600, atomic), installs a systemd unit
# (atomic), daemon-reload, enable, then start it, or restart it when anything changed; everything root does
# happens in ONE sudo call.
# Arguments: UNIT_DIR UNIT_NAME FILE...   (each FILE relative to $HOME; set by `set --` before the script)
# stdin: FILE_1 ... FILE_n, then the unit, one line each, printable ASCII with every other byte (and "\")
# as a printf %b octal escape (\0NNN). The files' contents never appear in argv (the unit's may: no secret).
# stdout: "changed FILE" per replaced file, "unit-changed 0|1", "action started|restarted".
# Builtins wherever they do: every process is a fork+exec on a box that is busy with its first boot.
set -eu
umask 077
unit_dir=$1
unit_name=$2
shift 2
cd "$HOME"
# Set before any swap and cleared after the restart, so a run cut off in between restarts next time. Only
# an installed unit can have a process running with the old contents: a first run just starts it.
pending="$HOME/.$unit_name.restart-pending"
unit_installed=no
if [ -f "$unit_dir/$unit_name" ]; then unit_installed=yes; fi
temps=""
remove_temps() {
  for temp in $temps; do
    if [ -e "$temp" ] || [ -L "$temp" ]; then rm -f "$temp"; fi
  done
}
trap remove_temps EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "inject: $*" >&2
  exit 1
}

# Decodes the next stdin line into $1, created 0600 by the umask; printf is a shell builtin, so the content
# never reaches an argv.
next_payload_to() {
  IFS= read -r line || fail "payload ended early"
  printf '%b' "$line" >"$1" || fail "could not write $1"
}

for path in "$@"; do
  case $path in
  */*) dir=${path%/*} ;;
  *) dir=. ;;
  esac
  [ -d "$dir" ] || mkdir -p "$dir"
  tmp="$dir/.${path##*/}.inject-tmp"
  temps="$temps $tmp"
  # A leftover of a cut-off run may have any mode: removed, the new one is created by the umask's 0600.
  if [ -e "$tmp" ] || [ -L "$tmp" ]; then rm -f "$tmp"; fi
  next_payload_to "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    chmod 600 "$path"
  else
    if [ "$unit_installed" = yes ]; then : >"$pending"; fi
    mv -f "$tmp" "$path"
    echo "changed $path"
  fi
done

# The unit stays encoded until root writes it where it belongs; decoded here only to compare with an
# installed one (a unit holds no secret, so its line may travel in root's argv).
IFS= read -r unit_line || fail "payload ended early"
install_unit=yes
if [ "$unit_installed" = yes ]; then
  unit_tmp="$HOME/.$unit_name.inject-tmp"
  temps="$temps $unit_tmp"
  printf '%b' "$unit_line" >"$unit_tmp" || fail "could not write $unit_tmp"
  if cmp -s "$unit_tmp" "$unit_dir/$unit_name" 2>/dev/null; then install_unit=no; else : >"$pending"; fi
fi
action=start
if [ -e "$pending" ]; then action=restart; fi

# As root: write the unit (temp beside it, mode 0644 by umask 022, + rename), reload (always: cheap, and it
# repairs a run cut off after the unit swap), enable and start (one call), or enable and restart. sudo keeps
# the caller's umask: without umask 022 the unit and *.wants/ would be 0600/0700.
# shellcheck disable=SC2016 # expanded by the root shell, from its arguments
as_root='set -eu
umask 022
install_unit=$1 unit_line=$2 unit_dir=$3 unit_name=$4 action=$5
if [ "$install_unit" = yes ]; then
  unit_tmp="$unit_dir/.$unit_name.inject-tmp"
  # A leftover of a cut-off run would keep its mode: the new one must be created by the umask.
  if [ -e "$unit_tmp" ] || [ -L "$unit_tmp" ]; then rm -f "$unit_tmp"; fi
  printf "%b" "$unit_line" >"$unit_tmp"
  mv -f "$unit_tmp" "$unit_dir/$unit_name"
fi
systemctl daemon-reload
if [ "$action" = start ]; then
  systemctl enable --now "$unit_name"
else
  systemctl enable "$unit_name"
  systemctl restart "$unit_name"
fi'
sudo -n /bin/sh -c "$as_root" as-root "$install_unit" "$unit_line" "$unit_dir" "$unit_name" "$action"
if [ "$install_unit" = yes ]; then echo "unit-changed 1"; else echo "unit-changed 0"; fi
if [ "$action" = restart ]; then
  rm -f "$pending"
  echo "action restarted"
else
  echo "action started"
fi
