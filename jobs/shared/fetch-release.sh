# fetch_release HEADER URL: bundle $sha256 from URL, with curl's --header HEADER ("@file", or "@-" for stdin,
# so the grant's token never reaches an argv), checked against its sha256 and unpacked whole into $release
# (staged beside it, then renamed). Needs $releases, $release, $sha256 and fail(). First boot
# (boot-from-bundle.sh) and upgrades (release.sh) share it: jobs/shared/fetch-release.ts prepends it.
fetch_release() {
  archive="$releases/.$sha256.tar.gz"
  install -d -m 0755 "$releases"
  # --continue-at - resumes a cut-off transfer; a restarting control plane refuses connections or answers
  # 503 for a moment, which are retried. A refusal (the uniform 404: wrong or spent token, foreign address)
  # never turns into a grant, so --fail ends it at once with exit 22.
  curl --fail --silent --show-error --retry 10 --retry-delay 3 --retry-connrefused \
    --connect-timeout 10 --max-time 900 --continue-at - --header "$1" --output "$archive" "$2" ||
    fail "downloading the bundle failed (curl exit $?; 22: refused, so a wrong or spent token or a foreign address)"
  echo "$sha256  $archive" | sha256sum --check --strict --quiet ||
    {
      rm -f "$archive"
      fail "bundle checksum mismatch: the download is not bundle $sha256"
    }
  staging="$releases/.$sha256.unpacking"
  rm -rf "$staging"
  mkdir -p "$staging"
  tar -xzf "$archive" -C "$staging" --no-same-owner || fail "unpacking the bundle failed"
  for path in bin/bun bin/claude app bundle.json; do
    [ -e "$staging/$path" ] || fail "the bundle has no $path"
  done
  mv "$staging" "$release"
  rm -f "$archive"
}
