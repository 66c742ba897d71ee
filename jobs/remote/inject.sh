# Remote half of injectSecrets (POSIX sh): writes secret files (0600, atomic), installs a systemd unit
# (atomic, via sudo), daemon-reload, enable, then start it, or restart it when anything changed.
# Usage: sh -c "$SCRIPT" inject UNIT_DIR UNIT_NAME FILE...   (each FILE relative to $HOME)
# stdin: base64(FILE_1) ... base64(FILE_n) base64(unit), one line each. Contents never appear in argv.
# stdout: "changed FILE" per replaced file, "unit-changed 0|1", "action started|restarted".
set -eu
umask 077
unit_dir=$1
unit_name=$2
shift 2
cd "$HOME"
# Set before any swap and cleared after the restart, so a run cut off in between restarts next time.
pending="$HOME/.$unit_name.restart-pending"
temps=""
trap 'rm -f $temps' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "inject: $*" >&2
  exit 1
}

# Decodes the next stdin line into $1; printf is a shell builtin, so the content never reaches an argv.
next_payload_to() {
  IFS= read -r line || fail "payload ended early"
  printf '%s' "$line" | base64 -d >"$1" || fail "could not write $1"
}

for path in "$@"; do
  case $path in
  */*) dir=${path%/*} ;;
  *) dir=. ;;
  esac
  mkdir -p "$dir"
  tmp="$dir/.${path##*/}.inject-tmp"
  temps="$temps $tmp"
  rm -f "$tmp"
  next_payload_to "$tmp"
  chmod 600 "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    chmod 600 "$path"
  else
    : >"$pending"
    mv -f "$tmp" "$path"
    echo "changed $path"
  fi
done

unit_tmp="$HOME/.$unit_name.inject-tmp"
temps="$temps $unit_tmp"
next_payload_to "$unit_tmp"
# sudo keeps the caller's umask: without this, directories systemctl creates (*.wants/) would be 0700.
umask 022
unit_path="$unit_dir/$unit_name"
if cmp -s "$unit_tmp" "$unit_path" 2>/dev/null; then
  echo "unit-changed 0"
else
  : >"$pending"
  sudo -n install -m 0644 "$unit_tmp" "$unit_dir/.$unit_name.inject-tmp"
  sudo -n mv -f "$unit_dir/.$unit_name.inject-tmp" "$unit_path"
  echo "unit-changed 1"
fi

# Always reload: cheap, and it repairs a run that was cut off after the unit swap.
sudo -n systemctl daemon-reload
sudo -n systemctl enable "$unit_name"
if [ -e "$pending" ]; then
  sudo -n systemctl restart "$unit_name"
  rm -f "$pending"
  echo "action restarted"
else
  sudo -n systemctl start "$unit_name"
  echo "action started"
fi
