#!/bin/bash
# A peer for the benchmarks: the shell-script integrator's way, one curl
# process per request in a loop, the token made by openssl's CLI (HMAC) and
# base64 from coreutils, a fresh one per request as the docs ask.
#   curl_loop.sh MODE N   with COREPLUS_BASE_URL, COREPLUS_CONSUMER_ID,
#   COREPLUS_CONSUMER_SECRET, COREPLUS_ACCESS_TOKEN, COREPLUS_CAFILE set.
# MODE: "get" = N GETs of a 100-row client page; "pages" = page through all
# clients, N per page, in order (on a 429: wait a second, ask again).
# Prints "cpu_seconds wall_seconds requests rows http_429s"; cpu is every
# process the loop ran (bash's `times`, children included).
set -eu
end_point="/API/Core/v2.1/Client/"
user_agent="coreplus-bench-curl-loop/1.0 (bench@example.com)"

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

token() {
  local url=$1 now header payload sig
  now=$(date +%s)
  header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
  payload=$(printf '{"iss":"https://bench.example","aud":"https://coreplus.com.au","nbf":%d,"exp":%d,"consumerId":"%s","accessToken":"%s","url":"%s","httpMethod":"GET"}' \
    "$now" "$((now + 60))" "$COREPLUS_CONSUMER_ID" "$COREPLUS_ACCESS_TOKEN" "$url" | b64url)
  sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$COREPLUS_CONSUMER_SECRET" -binary | b64url)
  printf '%s.%s.%s' "$header" "$payload" "$sig"
}

# get URL -> the body in $body, the status in $status
get() {
  local out
  out=$(curl -sS --cacert "$COREPLUS_CAFILE" -w '\n%{http_code}' \
    -H "Authorization: JwToken $(token "$1")" -H "Content-Type: application/json" \
    -H "Accept: application/json" -H "User-Agent: $user_agent" "$1")
  status=${out##*$'\n'}
  body=${out%$'\n'*}
}

# rows in $body: one clientId per client
count_rows() { grep -o '"clientId"' <<<"$body" | wc -l; }

mode=$1 n=$2
requests=0 rows=0 throttled=0
wall0=$(date +%s.%N)
if [ "$mode" = pages ]; then
  page=1 total=-1
  while :; do
    get "$COREPLUS_BASE_URL$end_point?pageNumber=$page&pageSize=$n"
    requests=$((requests + 1))
    if [ "$status" = 429 ]; then throttled=$((throttled + 1)); sleep 1; continue; fi
    [ "$status" = 200 ] || { echo "HTTP $status" >&2; exit 1; }
    got=$(count_rows)
    rows=$((rows + got))
    [ "$total" -ge 0 ] || total=$(grep -o '"totalRows":[0-9]*' <<<"$body" | cut -d: -f2)
    if [ "$rows" -ge "$total" ] || [ "$got" -eq 0 ]; then break; fi
    page=$((page + 1))
  done
else
  for ((i = 0; i < n; i++)); do
    get "$COREPLUS_BASE_URL$end_point?pageSize=100"
    requests=$((requests + 1))
    [ "$status" != 429 ] || throttled=$((throttled + 1))
    rows=$((rows + $(count_rows)))
  done
fi
wall1=$(date +%s.%N)
# times: "0m0.010s 0m0.002s" (this shell), then its children's user and sys;
# run here, not in a pipeline (a subshell would count only its own)
t=$(mktemp)
times >"$t"
cpu=$(awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); c += u[1] * 60 + u[2] + s[1] * 60 + s[2] } END { print c }' "$t")
rm -f "$t"
echo "$cpu $(awk -v a="$wall0" -v b="$wall1" 'BEGIN { print b - a }') $requests $rows $throttled"
