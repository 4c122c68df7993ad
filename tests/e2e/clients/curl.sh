#!/bin/sh
# curl CLI: POST the payload to /echo, then GET /download/N on the same
# connection (--next reuses it); print each response body's sha256.
# Usage: curl.sh BASE_URL PAYLOAD_FILE DOWNLOAD_BYTES
set -eu
base=$1 payload=$2 n=$3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
set -- -sS --fail --max-time 60 \
  -H 'Content-Type: application/json' --data-binary "@$payload" -o "$out/post" "$base/echo"
if [ "$n" -gt 0 ]; then
  set -- "$@" --next -sS --fail --max-time 60 -o "$out/get" "$base/download/$n"
fi
curl "$@"
echo "post $(sha256sum <"$out/post" | cut -d' ' -f1)"
if [ "$n" -gt 0 ]; then
  echo "get $(sha256sum <"$out/get" | cut -d' ' -f1)"
fi
