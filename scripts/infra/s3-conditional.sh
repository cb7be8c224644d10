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

s3() {
  curl -sS -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:$S3_REGION:s3" \
    --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "$@"
}
status() { s3 -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$@"; }
# CompleteMultipartUpload may answer 200 with an error document: the status then reads 200/<error code>.
status_or_error() {
  local code
  code=$(status "$@")
  if [[ $code == 200 ]] && grep -q '<Error>' "$TMP/body" 2>/dev/null; then
    code="$code/$(sed -n 's:.*<Code>\(.*\)</Code>.*:\1:p' "$TMP/body")"
  fi
  echo "$code"
}
etag_of() { tr -d '\r' <"$TMP/headers" | sed -n 's/^[Ee][Tt]ag: *//p'; }

check() { # check DESCRIPTION EXPECTED ACTUAL
  local verdict=ok
  set -- "$1" "$2" "$(printf %s "$3" | tr -s '\n' ' ' | cut -c1-40)"
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
etag=$(s3 -I "$url/b" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: *//p')
check "DELETE b If-Match: current etag (release one's own lease)" 204 "$(status -X DELETE -H "If-Match: $etag" "$url/b")"
check "  b is gone" 404 "$(status "$url/b")"

# Multipart upload finished with If-None-Match: * : the dataset's write-once guard.
head -c 5242880 /dev/zero >"$TMP/part"
multipart() { # multipart KEY: starts an upload of KEY with one 5 MiB part; leaves the completion XML and prints the id
  local upload
  status -X POST "$url/$1?uploads=" >/dev/null   # "uploads=": curl signs the query as written
  upload=$(sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p' "$TMP/body")
  status -X PUT --data-binary "@$TMP/part" "$url/$1?partNumber=1&uploadId=$upload" >/dev/null
  printf '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part></CompleteMultipartUpload>' \
    "$(etag_of)" >"$TMP/complete.xml"
  echo "$upload"
}
upload=$(multipart a)
check "CompleteMultipartUpload a If-None-Match: * (key exists)" 412 "$(status_or_error -X POST -H 'If-None-Match: *' \
  -H 'Content-Type: application/xml' --data-binary "@$TMP/complete.xml" "$url/a?uploadId=$upload")"
check "  a unchanged after the refused completion" four "$(s3 "$url/a")"
s3 -X DELETE -o /dev/null "$url/a?uploadId=$upload" || true   # the refused upload, aborted
upload=$(multipart d)
check "CompleteMultipartUpload d If-None-Match: * (new key)" 200 "$(status_or_error -X POST -H 'If-None-Match: *' \
  -H 'Content-Type: application/xml' --data-binary "@$TMP/complete.xml" "$url/d?uploadId=$upload")"
check "  d is the 5 MiB object" 5242880 "$(s3 -o /dev/null -w '%{size_download}' "$url/d")"

# Create-if-absent is a lease only if it is atomic: 20 concurrent claims on one key, exactly one must win.
for round in 1 2 3; do
  for i in $(seq 1 20); do
    { status -X PUT -H 'If-None-Match: *' --data-binary "owner-$i" "$url/lease-$round" 2>/dev/null; echo; } \
      >"$TMP/race-$round-$i" &
  done
  wait
  wins=$(cat "$TMP"/race-"$round"-* | grep -c '^200$' || true)
  refused=$(cat "$TMP"/race-"$round"-* | grep -c '^412$' || true)
  check "20 concurrent If-None-Match: * PUTs, round $round: winners" 1 "$wins"
  check "  refused with 412 (the others may see 409 if in flight)" 19 "$((refused + $(cat "$TMP"/race-"$round"-* |
    grep -c '^409$' || true)))"
done

# The query string must be URI-encoded as SigV4 canonicalises it (curl signs it as given).
s3 "$ENDPOINT/$BUCKET?list-type=2&prefix=${PREFIX//\//%2F}%2F" -o "$TMP/list"
check "ListObjectsV2 prefix: keys (a, d, lease-1..3)" 5 "$(grep -o '<Key>' "$TMP/list" | wc -l)"
exit $((failures > 0))
