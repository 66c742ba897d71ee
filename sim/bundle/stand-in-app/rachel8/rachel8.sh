#!/bin/sh
# The stand-in Rachel8, run by the stand-in bun as `bun run src/index.ts`. Like the real bot it reads
# .env in its working directory: missing, it exits 0; invalid, it names the bad variables (never their
# values) and exits 1; valid, it logs a startup line and runs until stopped. AI_PROVIDER defaults to codex,
# as in Rachel8. Where the real bot looks for its provider's CLI and checks its login when a message
# arrives, this one does it once, before its startup line, and logs the outcome (never exiting over it). Shell builtins only (each
# process the box starts costs a millisecond of the host's CPU, shared by every simulated machine).
set -eu
[ -f .env ] || { echo "Rachel8: no .env in $PWD; run the setup first. Exiting."; exit 0; }

# Removes leading blanks from $1 into $trimmed.
trim_leading() { trimmed=${1#"${1%%[![:space:]]*}"}; }

# dotenv, read in one pass: KEY=VALUE lines, optionally after "export "; comments, blank lines and other keys
# ignored; the last one wins. Sets the raw value of each variable Rachel8 checks.
telegram_bot_token="" owner_telegram_user_id="" shared_folder_path="" node_env="" log_level="" ai_provider=""
while IFS= read -r line || [ -n "$line" ]; do
  trim_leading "$line"
  case $trimmed in export[[:space:]]*) trim_leading "${trimmed#export}" ;; esac
  key=${trimmed%%=*}
  [ "$key" != "$trimmed" ] || continue
  trim_leading "${trimmed#*=}"
  case ${key%"${key##*[![:space:]]}"} in
    TELEGRAM_BOT_TOKEN) telegram_bot_token=$trimmed ;;
    OWNER_TELEGRAM_USER_ID) owner_telegram_user_id=$trimmed ;;
    SHARED_FOLDER_PATH) shared_folder_path=$trimmed ;;
    NODE_ENV) node_env=$trimmed ;;
    LOG_LEVEL) log_level=$trimmed ;;
    AI_PROVIDER) ai_provider=$trimmed ;;
  esac
done <.env

# A raw value as Rachel8 sees it: trailing blanks removed, then one pair of surrounding double quotes, then of
# single quotes. Sets $found.
unquote() {
  found=${1%"${1##*[![:space:]]}"}
  case $found in \"*\") found=${found#\"} found=${found%\"} ;; esac
  case $found in \'*\') found=${found#\'} found=${found%\'} ;; esac
}

# Rachel8's rule for each variable, as the regular expressions it validates with.
valid() {
  case $1 in
    TELEGRAM_BOT_TOKEN) # [0-9]{8,}:[A-Za-z0-9_-]{35,}
      bot_id=${2%%:*} secret=${2#*:}
      [ "$bot_id" != "$2" ] && [ "${#bot_id}" -ge 8 ] && [ "${#secret}" -ge 35 ] || return 1
      case $bot_id in *[!0-9]*) return 1 ;; esac
      case $secret in *[!A-Za-z0-9_-]*) return 1 ;; esac ;;
    OWNER_TELEGRAM_USER_ID) # [1-9][0-9]*
      case $2 in [1-9]*) ;; *) return 1 ;; esac
      case $2 in *[!0-9]*) return 1 ;; esac ;;
    SHARED_FOLDER_PATH) [ -n "$2" ] ;;
    NODE_ENV) case $2 in development|production|test) ;; *) return 1 ;; esac ;;
    LOG_LEVEL) case $2 in debug|info|warn|error) ;; *) return 1 ;; esac ;;
    AI_PROVIDER) case $2 in "" | claudecode | codex | claude) ;; *) return 1 ;; esac ;;
  esac
}

problems=""
# check NAME RAW_VALUE MESSAGE: records MESSAGE when the value breaks NAME's rule.
check() {
  unquote "$2"
  if ! valid "$1" "$found"; then problems="$problems
  $1: $3"; fi
}
check TELEGRAM_BOT_TOKEN "$telegram_bot_token" "must look like 123456789:AA... (a bot token from @BotFather)"
check OWNER_TELEGRAM_USER_ID "$owner_telegram_user_id" "must be a positive integer"
check SHARED_FOLDER_PATH "$shared_folder_path" "must not be empty"
check NODE_ENV "$node_env" "must be one of development, production, test"
check LOG_LEVEL "$log_level" "must be one of debug, info, warn, error"
check AI_PROVIDER "$ai_provider" "must be one of claudecode, codex, claude"
if [ -n "$problems" ]; then
  echo "Invalid environment configuration:$problems" >&2
  exit 1
fi

# The sleep below is stopped by KILL: a TERM that reaches it while it is still the forked shell, before it
# becomes sleep, would be caught by this very trap and lost. $! is set as soon as it is forked.
trap 'echo "Rachel8: shutting down"; [ -z "${!:-}" ] || kill -KILL "$!" 2>/dev/null; exit 0' TERM INT
unquote "$node_env"
node_env=$found
unquote "$log_level"
log_level=$found
unquote "$ai_provider"
case $found in "" | codex) ai_provider=codex cli=codex ;; *) ai_provider=claudecode cli=claude ;; esac

# Rachel8's resolveCliPath: PATH first, then its fixed list; the first path that exists wins (not
# checked for being executable, as Bun.file().exists() does not). Sets $cli_path, empty when none.
resolve_cli() {
  cli_path=$(command -v "$1" 2>/dev/null) || cli_path=""
  [ -z "$cli_path" ] || return 0
  if [ "$1" = claude ]; then
    set -- "$HOME/.local/bin/claude" "$HOME/.bun/bin/claude" /usr/local/bin/claude /opt/homebrew/bin/claude
  else
    set -- "$HOME/.local/bin/codex" "$HOME/.bun/bin/codex" /home/linuxbrew/.linuxbrew/bin/codex \
      /usr/local/bin/codex /opt/homebrew/bin/codex
  fi
  for candidate in "$@"; do
    if [ -e "$candidate" ]; then cli_path=$candidate; return 0; fi
  done
}
resolve_cli "$cli"
if [ -z "$cli_path" ]; then
  echo "Rachel8: $ai_provider: Executable not found in standard locations for \"$cli\"; every message will fail"
elif [ "$cli" = claude ]; then
  # As Rachel8: a non-zero exit or "loggedIn" other than true is a logged-out provider.
  if status=$("$cli_path" auth status 2>&1) && case $status in *'"loggedIn": true'*) true ;; *) false ;; esac; then
    echo "Rachel8: claudecode: $cli_path is logged in"
  else
    echo "Rachel8: claudecode is logged out. Run /login to reconnect."
  fi
elif "$cli_path" login status >/dev/null 2>&1; then
  echo "Rachel8: codex: $cli_path is logged in"
else
  echo "Rachel8: codex is logged out. Run /login to reconnect."
fi
echo "Rachel8 started: Telegram bot polling (NODE_ENV=$node_env, LOG_LEVEL=$log_level, AI_PROVIDER=$ai_provider)"
# Under the service manager, wait on its idle FIFO (opened read-write: no data, no EOF; sh's read ends at the
# signal) instead of a sleep process per start; elsewhere, sleep.
idle=/run/sim-systemd/idle
if [ -p "$idle" ]; then
  while :; do read -r _ <>"$idle" || true; done
else
  while :; do
    # Not on our output: nothing it holds open can outlive us.
    sleep 3600 >/dev/null 2>&1 &
    wait "$!" || true
  done
fi
