#!/usr/bin/env bash
# Installs or upgrades rachel-provisioner on a Debian 12/13 or Ubuntu 24.04 box, as root, in one go:
#   the system user `rachel`, Bun (from the npm registry, checksum pinned) at /usr/local/bin/bun, the code
#   under /opt/rachel-provisioner, /etc/rachel-provisioner/env with generated secrets in files (mode 0600,
#   read through *_FILE), the systemd units and backup timer, and the Caddy site when the release has one.
# Idempotent: a second run with the same release changes nothing; a run with a new release upgrades while
# jobs are in flight (backup, stop the worker, which drains on SIGTERM, swap the code, start again: the API
# migrates the database, parked provisions resume from the broker on the new code).
#
# usage: deploy/install.sh [--from DIR|TARBALL] [--root DIR] [--bun PATH] [--domain NAME] [--acme-email ADDR]
#   --from        the release: a checkout or unpacked tree, or a .tar.gz of one (default: the checkout this
#                 script is in)
#   --root        install into DIR as if it were / (tests; no packages, no running systemd)
#   --bun         use this bun binary instead of downloading the pinned one
#   --domain      the public DNS name: sets PUBLIC_BASE_URL=https://NAME on first install
#   --acme-email  the address the certificate authority writes to (Caddy's ACME_EMAIL)
set -euo pipefail

readonly BUN_VERSION=1.4.5
# dist.integrity of @oven/bun-linux-<arch>@BUN_VERSION in the npm registry.
declare -A BUN_INTEGRITY=(
  [x64]="sha512-IWX9BELoGHAUtMonkeSaNaZwXzRk+oDw6Mk+HBFXd3KHYIBNBsIGRupMZPcgNoDbJpLu6gAJjIoIVPZtt1aJ1g=="
  [aarch64]="sha512-4BXmsSKnjOrlGWqZV4x/oWa7AVoR+B6lCXddMzOAXBIm3t50eslg9wb66gmtW1AamEQ1l1CDvmmruysEhqOWMg=="
)
readonly NPM_REGISTRY=${NPM_REGISTRY:-https://registry.npmjs.org}
readonly SERVICE_USER=rachel
readonly APP=rachel-provisioner
readonly SERVICES=(rachel-broker.service rachel-api.service rachel-worker.service)
# Secrets this script generates; the operator brings the others (see print_todo).
readonly GENERATED_SECRETS=(BROKER_TOKEN SECRETS_KEY OPS_TOKEN SERVICE_TOKEN)

root=""
from=""
bun_binary=""
domain=""
acme_email=""

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --from) from=${2:?--from needs a directory or tarball}; shift 2 ;;
      --root) root=${2:?--root needs a directory}; root=${root%/}; shift 2 ;;
      --bun) bun_binary=${2:?--bun needs a path}; shift 2 ;;
      --domain) domain=${2:?--domain needs a name}; shift 2 ;;
      --acme-email) acme_email=${2:?--acme-email needs an address}; shift 2 ;;
      -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      *) die "unknown option $1 (try --help)" ;;
    esac
  done
  [ -n "$from" ] || from=$(cd "$(dirname "$0")/.." && pwd)
  [ -z "$domain" ] || [[ "$domain" =~ ^[A-Za-z0-9.-]+$ ]] || die "--domain must be a DNS name, got '$domain'"
}

# Paths under the install root.
r() { echo "$root$1"; }
# True when a real systemd manages this machine and we install into it.
systemd_running() { [ -z "$root" ] && [ -d /run/systemd/system ]; }

check_system() {
  [ "$(id -u)" -eq 0 ] || die "run as root"
  local os_release; os_release=$(r /etc/os-release)
  if [ -r "$os_release" ]; then
    local id version
    # shellcheck source=/dev/null
    id=$(. "$os_release" && echo "${ID:-}")
    # shellcheck source=/dev/null
    version=$(. "$os_release" && echo "${VERSION_ID:-}")
    case "$id $version" in
      "debian 12"|"debian 13"|"ubuntu 24.04") ;;
      *) echo "install.sh: warning: made for Debian 12/13 and Ubuntu 24.04, this is $id $version" >&2 ;;
    esac
  fi
}

apt_install() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What the script itself needs on a minimal image (no packages are installed into a --root tree): curl to
# download Bun, git to read a checkout. A tarball carrying its node_modules with --bun needs neither (offline).
install_base_packages() {
  [ -z "$root" ] || return 0
  local needed=()
  [ -n "$bun_binary" ] || needed+=(ca-certificates curl)
  if [ ! -f "$from" ] && { [ -d "$from/.git" ] || [ -f "$from/.git" ]; }; then needed+=(git); fi
  [ ${#needed[@]} -eq 0 ] || apt_install "${needed[@]}"
}

create_user() {
  if grep -q "^$SERVICE_USER:" "$(r /etc/passwd)"; then return 0; fi
  say "creating system user $SERVICE_USER"
  local args=(--system --user-group --home-dir "/var/lib/$APP" --no-create-home --shell /usr/sbin/nologin)
  [ -z "$root" ] || args+=(--root "$root")
  useradd "${args[@]}" "$SERVICE_USER"
}

# Numeric ids from the install root's own passwd (a --root tree has its own users).
service_uid() { awk -F: -v u="$SERVICE_USER" '$1 == u { print $3 }' "$(r /etc/passwd)"; }
service_gid() { awk -F: -v u="$SERVICE_USER" '$1 == u { print $4 }' "$(r /etc/passwd)"; }

make_directories() {
  install -d -m 0755 "$(r /opt)" "$(r /usr/local/bin)" "$(r /etc/systemd/system)"
  install -d -m 0755 -o 0 -g 0 "$(r /etc/$APP)"
  install -d -m 0700 -o "$(service_uid)" -g "$(service_gid)" \
    "$(r /etc/$APP/secrets)" "$(r /var/lib/$APP)" "$(r /var/backups/$APP)"
}

install_bun() {
  local target; target=$(r /usr/local/bin/bun)
  if [ -n "$bun_binary" ]; then
    cmp -s "$bun_binary" "$target" 2>/dev/null || install -m 0755 "$bun_binary" "$target"
    return 0
  fi
  if [ -x "$target" ] && [ "$("$target" --version 2>/dev/null)" = "$BUN_VERSION" ]; then return 0; fi
  local arch
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64|arm64) arch=aarch64 ;;
    *) die "no Bun build for $(uname -m)" ;;
  esac
  say "installing Bun $BUN_VERSION from the npm registry (@oven/bun-linux-$arch)"
  local work; work=$(mktemp -d)
  curl -fsSL --retry 3 -o "$work/bun.tgz" \
    "$NPM_REGISTRY/@oven/bun-linux-$arch/-/bun-linux-$arch-$BUN_VERSION.tgz"
  local expected actual
  expected=$(echo "${BUN_INTEGRITY[$arch]#sha512-}" | base64 -d | od -An -vtx1 | tr -d ' \n')
  actual=$(sha512sum "$work/bun.tgz" | cut -d' ' -f1)
  [ "$expected" = "$actual" ] || die "the Bun package's checksum does not match the pinned one; not installed"
  tar -xzf "$work/bun.tgz" -C "$work" package/bin/bun
  install -m 0755 "$work/package/bin/bun" "$target"
  rm -rf "$work"
}

# The release's files in a fresh directory: a tarball unpacked, a checkout's tracked files, or a tree copied.
unpack_release() {
  local stage=$1
  rm -rf "$stage" && mkdir -p "$stage"
  if [ -f "$from" ]; then
    # A tarball of one top directory (git archive --prefix, GitHub's) is that directory's content.
    local tops; tops=$(tar -tzf "$from" | cut -d/ -f1 | sort -u | wc -l)
    if [ "$tops" -eq 1 ] && ! tar -tzf "$from" | grep -qx 'package.json'; then
      tar -xzf "$from" -C "$stage" --strip-components=1
    else
      tar -xzf "$from" -C "$stage"
    fi
  elif [ -d "$from/.git" ] || [ -f "$from/.git" ]; then
    # Tracked and new files, as the checkout has them now (a file deleted but not committed is skipped).
    (cd "$from" && git ls-files -z --cached --others --exclude-standard |
      tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$stage"
  elif [ -d "$from" ]; then
    tar -C "$from" --exclude=./node_modules --exclude=./data --exclude=./backups --exclude=./.env -cf - . | tar -xf - -C "$stage"
  else
    die "--from $from is neither a directory nor a tarball"
  fi
  if [ ! -f "$stage/package.json" ] || [ ! -f "$stage/bun.lock" ]; then
    rm -rf "$stage"
    die "$from is not a rachel-provisioner release (no package.json/bun.lock)"
  fi
}

# A digest of the release's own files, to tell an unchanged re-run from an upgrade.
release_digest() {
  (cd "$1" && find . -path ./node_modules -prune -o -type f ! -name .release -print0 | LC_ALL=C sort -z \
    | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

install_code() {
  local current; current=$(r /opt/$APP)
  local stage; stage=$(r /opt/$APP.new)
  unpack_release "$stage"
  release=$stage
  local digest; digest=$(release_digest "$stage")
  if [ -f "$current/.release" ] && [ "$(cat "$current/.release")" = "$digest" ]; then
    rm -rf "$stage"
    release=$current
    code_changed=0
    return 0
  fi
  say "installing the code into /opt/$APP.new (bun install --production)"
  (cd "$stage" && "$(r /usr/local/bin/bun)" install --frozen-lockfile --production --silent)
  echo "$digest" >"$stage/.release"
  chown -R 0:0 "$stage"
  chmod -R go-w,a+rX "$stage"
  code_changed=1
}

# Moves the staged release into place; the services are stopped around it when they run.
switch_code() {
  [ "$code_changed" -eq 1 ] || return 0
  local current; current=$(r /opt/$APP)
  local was_running=0
  if systemd_running && systemctl is-active --quiet rachel-worker.service; then
    was_running=1
    say "upgrading: backing up first, then stopping the worker (it drains its jobs) and the API"
    systemctl start rachel-backup.service || die "the pre-upgrade backup failed; nothing was changed (journalctl -u rachel-backup)"
    systemctl stop rachel-worker.service rachel-api.service
  fi
  rm -rf "$(r /opt/$APP.previous)"
  [ -d "$current" ] && mv "$current" "$(r /opt/$APP.previous)"
  mv "$(r /opt/$APP.new)" "$current"
  release=$current
  # The broker keeps the queue (parked provisions included) across the swap; restart it only on new code.
  [ "$was_running" -eq 1 ] && restart_services=1
  return 0
}

# BROKER_TOKEN is read from /etc/rachel-provisioner/secrets/broker_token.
secret_file_name() { echo "$1" | tr '[:upper:]' '[:lower:]'; }

# `NAME=value` for one variable of the env file being built; only names the release's example knows.
set_env() {
  local file=$1 name=$2 value=$3
  grep -q "^$name=" "$file" || return 0
  local escaped; escaped=$(printf '%s' "$value" | sed 's/[&|\\]/\\&/g')
  sed -i "s|^$name=.*|$name=$escaped|" "$file"
}

# `NAME=` in the example becomes `NAME_FILE=<secrets dir>/<name>`: secrets never sit in the environment.
use_secret_file() {
  local file=$1 name=$2 commented=$3
  grep -q "^$name=" "$file" || return 0
  local path; path=/etc/$APP/secrets/$(secret_file_name "$name")
  local line="${name}_FILE=$path"
  [ "$commented" = commented ] && line="# ${line}   (write the secret into that file, then remove this '# ')"
  sed -i "s|^$name=.*|$line|" "$file"
}

write_env_file() {
  local env_file; env_file=$(r /etc/$APP/env)
  if [ -f "$env_file" ]; then
    add_new_variables "$env_file"
    return 0
  fi
  say "writing /etc/$APP/env from .env.example"
  local draft; draft=$(mktemp)
  {
    echo "# rachel-provisioner configuration, written by deploy/install.sh from .env.example; edit freely:"
    echo "# re-running install.sh keeps it and only appends variables a new release adds."
    echo "# Secrets are in /etc/$APP/secrets/ (one file each, mode 0600), read through NAME_FILE."
    echo
    cat "$release/.env.example"
  } >"$draft"
  set_env "$draft" DATA_DIR /var/lib/$APP
  set_env "$draft" BACKUP_DIR /var/backups/$APP
  set_env "$draft" LOG_PRETTY false
  [ -z "$domain" ] || set_env "$draft" PUBLIC_BASE_URL "https://$domain"
  # Caddy on this box is the one proxy whose forwarded client address the API may believe.
  [ -f "$release/deploy/Caddyfile" ] && set_env "$draft" TRUSTED_PROXIES 127.0.0.1
  for name in "${GENERATED_SECRETS[@]}" HCLOUD_TOKEN; do use_secret_file "$draft" "$name" active; done
  for name in STANDARD_WEBHOOK_SECRET STRIPE_WEBHOOK_SECRET SECRETS_OLD_KEYS BACKUP_S3_SECRET_ACCESS_KEY; do
    use_secret_file "$draft" "$name" commented
  done
  install -m 0600 -o 0 -g 0 "$draft" "$env_file"
  rm -f "$draft"
}

# An upgrade's new settings: appended with their comments, defaults as shipped; existing lines untouched.
add_new_variables() {
  local env_file=$1 added=()
  while IFS= read -r name; do
    grep -Eq "^#? ?${name}(_FILE)?=" "$env_file" || added+=("$name")
  done < <(grep -oE '^[A-Z0-9_]+=' "$release/.env.example" | tr -d '=')
  [ ${#added[@]} -eq 0 ] && return 0
  say "adding new settings to /etc/$APP/env: ${added[*]}"
  {
    echo
    echo "# --- added by install.sh on $(date -u +%Y-%m-%d) -------------------------------------------------"
    for name in "${added[@]}"; do
      awk -v name="$name" '
        /^#/ { comment = comment $0 "\n"; next }
        $0 ~ "^" name "=" { printf "%s%s\n", comment, $0; exit }
        { comment = "" }' "$release/.env.example"
    done
  } >>"$env_file"
}

write_secrets() {
  local dir; dir=$(r /etc/$APP/secrets)
  for name in "${GENERATED_SECRETS[@]}"; do
    local file; file="$dir/$(secret_file_name "$name")"
    [ -s "$file" ] && continue
    # SECRETS_KEY must be base64 of 32 bytes; the tokens only need to be long and random.
    head -c 32 /dev/urandom | base64 -w0 >"$file.tmp"
    chmod 0600 "$file.tmp" && chown "$(service_uid):$(service_gid)" "$file.tmp" && mv "$file.tmp" "$file"
  done
  local hcloud="$dir/hcloud_token"
  if [ ! -e "$hcloud" ]; then
    install -m 0600 -o "$(service_uid)" -g "$(service_gid)" /dev/null "$hcloud"
  fi
}

install_units() {
  local changed=0
  for unit in "$release"/deploy/systemd/*.service "$release"/deploy/systemd/*.timer; do
    local target; target=$(r /etc/systemd/system/"$(basename "$unit")")
    cmp -s "$unit" "$target" 2>/dev/null && continue
    install -m 0644 "$unit" "$target"
    changed=1
  done
  if systemd_running; then
    [ "$changed" -eq 0 ] || systemctl daemon-reload
    systemctl enable --quiet "${SERVICES[@]}" rachel-backup.timer
  else
    systemctl --root="${root:-/}" enable --quiet "${SERVICES[@]}" rachel-backup.timer 2>/dev/null
  fi
}

# The release's deploy/Caddyfile as Caddy's configuration, fed our env file and caddy.env by a drop-in.
install_caddy_site() {
  local site="$release/deploy/Caddyfile"
  [ -f "$site" ] || return 0
  [ -n "$root" ] || apt_install caddy
  local caddyfile; caddyfile=$(r /etc/caddy/Caddyfile)
  install -d -m 0755 "$(r /etc/caddy)" "$(r /etc/systemd/system/caddy.service.d)"
  if [ -f "$caddyfile" ] && ! cmp -s "$site" "$caddyfile" && ! grep -q "rachel-provisioner" "$caddyfile"; then
    mv "$caddyfile" "$caddyfile.before-$APP"
    say "kept the previous Caddyfile as /etc/caddy/Caddyfile.before-$APP"
  fi
  local caddy_changed=0
  cmp -s "$site" "$caddyfile" 2>/dev/null || { install -m 0644 "$site" "$caddyfile"; caddy_changed=1; }
  local caddy_env; caddy_env=$(r /etc/$APP/caddy.env)
  local wanted_env
  wanted_env=$(printf '# Caddy-only settings (see deploy/Caddyfile).\nACME_EMAIL=%s' "$acme_email")
  # Without --acme-email an existing file (the operator's address) is kept.
  if [ ! -f "$caddy_env" ] || { [ -n "$acme_email" ] && [ "$(cat "$caddy_env")" != "$wanted_env" ]; }; then
    echo "$wanted_env" >"$caddy_env.tmp"
    chmod 0644 "$caddy_env.tmp" && mv "$caddy_env.tmp" "$caddy_env"
    caddy_changed=1
  fi
  local dropin; dropin=$(r /etc/systemd/system/caddy.service.d/$APP.conf)
  local wanted
  wanted=$(printf '[Service]\n# PUBLIC_BASE_URL and the public listener come from the service'"'"'s own settings.\nEnvironmentFile=/etc/%s/env\nEnvironmentFile=/etc/%s/caddy.env\n' "$APP" "$APP")
  if [ "$(cat "$dropin" 2>/dev/null)" != "$wanted" ]; then
    echo "$wanted" >"$dropin"
    caddy_changed=1
  fi
  if systemd_running && [ "$caddy_changed" -eq 1 ]; then
    systemctl daemon-reload
    systemctl enable --quiet caddy.service
    if grep -qE '^ACME_EMAIL=.+' "$caddy_env"; then systemctl restart caddy.service; fi
  fi
  return 0
}

# Starts (or, after an upgrade, restarts) the services once the operator's required secret is there.
start_services() {
  systemd_running || return 0
  if [ ! -s "$(r /etc/$APP/secrets/hcloud_token)" ]; then return 0; fi
  systemctl start rachel-backup.timer
  if [ "$restart_services" -eq 1 ]; then
    say "restarting the broker, then the API (migrates the database) and the worker on the new code"
    systemctl restart rachel-broker.service
    systemctl start rachel-api.service rachel-worker.service
  else
    systemctl start "${SERVICES[@]}"
  fi
}

print_todo() {
  local env_file=/etc/$APP/env todo=()
  [ -s "$(r /etc/$APP/secrets/hcloud_token)" ] ||
    todo+=("the Hetzner Cloud API token (read/write): write it into /etc/$APP/secrets/hcloud_token")
  grep -q '^PUBLIC_BASE_URL=https://' "$(r $env_file)" ||
    todo+=("the public domain: PUBLIC_BASE_URL=https://<name> in $env_file (its DNS must point here)")
  grep -q '^CONTROL_PLANE_IPS=127.0.0.1/32$' "$(r $env_file)" &&
    todo+=("this box's public IP as CONTROL_PLANE_IPS in $env_file (customer servers' firewalls admit SSH from it)")
  grep -q '^# STANDARD_WEBHOOK_SECRET_FILE=' "$(r $env_file)" && grep -q '^# STRIPE_WEBHOOK_SECRET_FILE=' "$(r $env_file)" &&
    todo+=("the payment webhooks' signing secrets: STANDARD_WEBHOOK_SECRET_FILE and/or STRIPE_WEBHOOK_SECRET_FILE in $env_file")
  grep -q '^BACKUP_S3_ENDPOINT=$' "$(r $env_file)" &&
    todo+=("an off-box backup target: BACKUP_S3_* in $env_file (until then ops status warns)")
  [ -f "$release/deploy/Caddyfile" ] && ! grep -qE '^ACME_EMAIL=.+' "$(r /etc/$APP/caddy.env)" &&
    todo+=("the certificate contact: ACME_EMAIL in /etc/$APP/caddy.env, then: systemctl restart caddy")
  echo
  echo "rachel-provisioner is installed: code in /opt/$APP, settings in $env_file, secrets in /etc/$APP/secrets/."
  echo "Keep a copy of /etc/$APP/secrets/secrets_key somewhere safe and apart from the backups: without it"
  echo "a backup's customer secrets cannot be opened, and with it anyone holding a backup can open them."
  if [ ${#todo[@]} -eq 0 ]; then
    echo "Nothing left to fill in."
    return 0
  fi
  echo "Still to fill in:"
  for item in "${todo[@]}"; do echo "  - $item"; done
  echo "Then: systemctl restart ${SERVICES[*]}"
}

main() {
  parse_args "$@"
  check_system
  code_changed=0
  restart_services=0
  install_base_packages
  create_user
  make_directories
  install_bun
  install_code
  write_env_file
  write_secrets
  install_units
  switch_code
  install_caddy_site
  start_services
  print_todo
}

main "$@"
