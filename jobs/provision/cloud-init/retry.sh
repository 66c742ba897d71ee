# shellcheck shell=bash
# Sourced by the first-boot scripts: retry COMMAND... up to 5 times, waiting 5, 10, 15, 20 s between tries,
# because first-boot downloads (apt mirrors, the Bun installer, GitHub) fail transiently.
retry() {
  local attempt=1
  until "$@"; do
    if ((attempt >= 5)); then
      echo "retry: giving up after $attempt attempts: $*" >&2
      return 1
    fi
    sleep $((attempt * 5))
    attempt=$((attempt + 1))
  done
}
