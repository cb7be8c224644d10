#!/usr/bin/env bash
# Asks the running object store which conditional writes it honours, with real SigV4 requests (curl), and prints one
# line per check: what was sent, the HTTP status expected from AWS S3, the status received. The storage backends'
# response-log segments and leases rely on these (docs/storage-backends.md). Exit status 1 if any check differs.
#
#   scripts/infra/s3-conditional.sh [ENDPOINT] [BUCKET]     (defaults: the stack's store and bucket)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ENDPOINT="${1:-http://127.0.0.1:$S3_PORT}"
BUCKET="${2:-$S3_BUCKET}"
PREFIX="probe/$(date +%s%N)"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

s3() { curl -sS --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "$@"; }
status() { s3 -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$@"; }
etag_of() { tr -d '\r' <"$TMP/headers" | sed -n 's/^[Ee][Tt]ag: *//p'; }

check() { # check DESCRIPTION EXPECTED ACTUAL
  local verdict=ok
  if [[ $2 != "$3" ]]; then
    verdict=DIFFERS
    failures=$((failures + 1))
  fi
  printf '%-62s expect %-4s got %-4s %s\n' "$1" "$2" "$3" "$verdict"
}

url="$ENDPOINT/$BUCKET/$PREFIX"
check "PUT a" 200 "$(status -X PUT --data-binary 'one' "$url/a")"
etag=$(etag_of)
check "GET a returns the bytes" one "$(s3 "$url/a")"
check "PUT a If-None-Match: * (key exists)" 412 "$(status -X PUT -H 'If-None-Match: *' --data-binary 'two' "$url/a")"
check "  a unchanged after the refused PUT" one "$(s3 "$url/a")"
check "PUT b If-None-Match: * (new key)" 200 "$(status -X PUT -H 'If-None-Match: *' --data-binary 'b' "$url/b")"
check "PUT a If-Match: wrong etag" 412 "$(status -X PUT -H 'If-Match: "00000000000000000000000000000000"' \
  --data-binary 'three' "$url/a")"
check "PUT a If-Match: current etag (compare-and-swap)" 200 "$(status -X PUT -H "If-Match: $etag" \
  --data-binary 'four' "$url/a")"
check "  a holds the swapped value" four "$(s3 "$url/a")"
check "PUT a If-Match: the old etag again (lost race)" 412 "$(status -X PUT -H "If-Match: $etag" \
  --data-binary 'five' "$url/a")"
check "PUT c If-Match: * on a missing key" 404 "$(status -X PUT -H 'If-Match: *' --data-binary 'c' "$url/c")"
etag=$(s3 -I "$url/a" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: *//p')
check "GET a If-None-Match: current etag" 304 "$(status -H "If-None-Match: $etag" "$url/a")"
check "GET a If-Match: wrong etag" 412 "$(status -H 'If-Match: "00000000000000000000000000000000"' "$url/a")"
check "DELETE a If-Match: wrong etag" 412 "$(status -X DELETE -H 'If-Match: "00000000000000000000000000000000"' "$url/a")"
check "  a still there after the refused DELETE" four "$(s3 "$url/a")"

# Multipart upload finished with If-None-Match: * onto an existing key: the dataset's write-once guard.
status -X POST "$url/a?uploads" >/dev/null
upload=$(sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p' "$TMP/body")
head -c 5242880 /dev/zero >"$TMP/part"
status -X PUT --data-binary "@$TMP/part" "$url/a?partNumber=1&uploadId=$upload" >/dev/null
part_etag=$(etag_of)
printf '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part></CompleteMultipartUpload>' \
  "$part_etag" >"$TMP/complete.xml"
check "CompleteMultipartUpload a If-None-Match: * (key exists)" 412 "$(status -X POST -H 'If-None-Match: *' \
  -H 'Content-Type: application/xml' --data-binary "@$TMP/complete.xml" "$url/a?uploadId=$upload")"
check "  a unchanged after the refused completion" four "$(s3 "$url/a")"
check "CompleteMultipartUpload d If-None-Match: * (new key)" 200 "$(status -X POST -H 'If-None-Match: *' \
  -H 'Content-Type: application/xml' --data-binary "@$TMP/complete.xml" "$url/d?uploadId=$upload")"
s3 -X DELETE "$url/a?uploadId=$upload" -o /dev/null || true

# Create-if-absent is a lease only if it is atomic: 20 concurrent claims on one key, exactly one must win.
for round in 1 2 3; do
  for i in $(seq 1 20); do
    status -X PUT -H 'If-None-Match: *' --data-binary "owner-$i" "$url/lease-$round" >"$TMP/race-$round-$i" 2>/dev/null &
  done
  wait
  wins=$(cat "$TMP"/race-"$round"-* | grep -c '^200$' || true)
  refused=$(cat "$TMP"/race-"$round"-* | grep -c '^412$' || true)
  check "20 concurrent If-None-Match: * PUTs, round $round: winners" 1 "$wins"
  check "  refused with 412 (the others may see 409 if in flight)" 19 "$((refused + $(cat "$TMP"/race-"$round"-* |
    grep -c '^409$' || true)))"
done

s3 "$ENDPOINT/$BUCKET?list-type=2&prefix=$PREFIX/" -o "$TMP/list"
check "ListObjectsV2 prefix: keys" 6 "$(grep -o '<Key>' "$TMP/list" | wc -l)"
exit $((failures > 0))
