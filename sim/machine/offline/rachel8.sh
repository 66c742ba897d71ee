#!/bin/sh
# The simulated Rachel8, run by the simulated bun as `bun run src/index.ts`. Like the real bot it reads
# .env in its working directory: missing, it exits 0; invalid, it names the bad variables (never their
# values) and exits 1; valid, it logs a startup line and runs until stopped.
set -eu
[ -f .env ] || { echo "Rachel8: no .env in $PWD; run the setup first. Exiting."; exit 0; }

# dotenv: KEY=VALUE lines; comments and blank lines ignored; one pair of surrounding quotes removed.
value_of() {
  sed -n "s/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}$1[[:space:]]*=[[:space:]]*//p" .env | tail -n 1 |
    sed -e 's/[[:space:]]*$//' -e "s/^\"\(.*\)\"\$/\1/" -e "s/^'\(.*\)'\$/\1/"
}
matches() { printf '%s' "$1" | grep -Eqx "$2"; }

problems=""
check() {
  if ! matches "$(value_of "$1")" "$2"; then problems="$problems
  $1: $3"; fi
}
check TELEGRAM_BOT_TOKEN '[0-9]{8,}:[A-Za-z0-9_-]{35,}' "must look like 123456789:AA... (a bot token from @BotFather)"
check OWNER_TELEGRAM_USER_ID '[1-9][0-9]*' "must be a positive integer"
check SHARED_FOLDER_PATH '.+' "must not be empty"
check NODE_ENV 'development|production|test' "must be one of development, production, test"
check LOG_LEVEL 'debug|info|warn|error' "must be one of debug, info, warn, error"
if [ -n "$problems" ]; then
  echo "Invalid environment configuration:$problems" >&2
  exit 1
fi

sleeper=""
trap 'echo "Rachel8: shutting down"; [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null; exit 0' TERM INT
echo "Rachel8 started: Telegram bot polling (NODE_ENV=$(value_of NODE_ENV), LOG_LEVEL=$(value_of LOG_LEVEL))"
while :; do
  sleep 3600 &
  sleeper=$!
  wait "$sleeper" || true
done
