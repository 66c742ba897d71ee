#!/bin/bash
# What the simulated curl serves for https://bun.sh/install: installs the simulated bun into
# $BUN_INSTALL/bin (default ~/.bun/bin) like the real installer. Usage: bash install [bun-vX.Y.Z]
set -euo pipefail
default_version=1.2.21
tag=${1:-}
case $tag in
  "") version=$default_version ;;
  bun-v[0-9]*) version=${tag#bun-v} ;;
  *) echo "error: Invalid version tag \"$tag\" (expected bun-vX.Y.Z)" >&2; exit 1 ;;
esac
install_dir=${BUN_INSTALL:-$HOME/.bun}
[ -d "$install_dir/bin" ] || mkdir -p "$install_dir/bin"
# The version is baked into the installed executable, as a real bun binary knows its own: the simulated bun
# with its BUN_VERSION= line replaced, by builtins rather than sed.
while IFS= read -r line || [ -n "$line" ]; do
  case $line in BUN_VERSION=*) line=BUN_VERSION=$version ;; esac
  printf '%s\n' "$line"
done </opt/sim/lib/bun >"$install_dir/bin/bun.tmp"
chmod 755 "$install_dir/bin/bun.tmp"
mv -f "$install_dir/bin/bun.tmp" "$install_dir/bin/bun"
echo "bun was installed successfully to ~${install_dir#"$HOME"}/bin/bun"
