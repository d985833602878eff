#!/usr/bin/env bash
# A walkthrough of the public API with curl and jq: register -> login -> me -> logout, then the
# admin flow. TestExamplesWalkthrough runs it against the service, so it cannot rot.
#
#   BASE_URL=http://localhost:8080 routes/docs/walkthrough.sh
#   # admin flow too: promote an account first (./bin/authapi users promote EMAIL --role admin)
#   BASE_URL=… ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD=… routes/docs/walkthrough.sh
set -euo pipefail

BASE_URL=${BASE_URL:-http://localhost:8080}
EMAIL=${EMAIL:-walk-$(date +%s%N)@example.com}
PASSWORD=${PASSWORD:-correct-horse-1}

# call METHOD PATH [BODY] [TOKEN]: prints the body, fails unless the status is $EXPECT (default 200).
call() {
  local method=$1 path=$2 body=${3:-} token=${4:-} out status
  local args=(-sS -X "$method" -o /dev/stdout -w '\n%{http_code}' "$BASE_URL$path")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data "$body")
  [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
  out=$(curl "${args[@]}")
  status=${out##*$'\n'}
  if [ "$status" != "${EXPECT:-200}" ]; then
    echo "$method $path: status $status, want ${EXPECT:-200}: ${out%$'\n'*}" >&2
    exit 1
  fi
  printf '%s\n' "${out%$'\n'*}"
}

creds=$(jq -nc --arg e "$EMAIL" --arg p "$PASSWORD" '{email: $e, password: $p}')

echo "== register"
EXPECT=201 call POST /auth/register "$creds" | jq -e '.type == "success" and .data.status.status == "pending_verification"' >/dev/null

echo "== login"
TOKEN=$(call POST /auth/login "$creds" | jq -er '.token')

echo "== me"
call GET /auth/me "" "$TOKEN" | jq -e --arg e "$EMAIL" '.email == $e' >/dev/null

echo "== logout"
EXPECT=204 call POST /auth/logout "" "$TOKEN" >/dev/null

echo "== me with the revoked token is 401"
EXPECT=401 call GET /auth/me "" "$TOKEN" | jq -e '.code == "unauthorized"' >/dev/null

if [ -n "${ADMIN_EMAIL:-}" ]; then
  admin=$(jq -nc --arg e "$ADMIN_EMAIL" --arg p "$ADMIN_PASSWORD" '{email: $e, password: $p}')
  echo "== admin login"
  ADMIN_TOKEN=$(call POST /auth/login "$admin" | jq -er '.token')

  echo "== batch create"
  batch=$(jq -nc --arg a "batch-a-$EMAIL" --arg b "batch-b-$EMAIL" \
    '[{email: $a, password: "passw0rd-a"}, {email: $b, password: "short"}]')
  call POST /users/batch "$batch" "$ADMIN_TOKEN" | jq -e '(.created | length) == 1 and .failed[0].index == 1' >/dev/null

  echo "== stats"
  call GET /users/stats "" "$ADMIN_TOKEN" | jq -e '.total >= 3' >/dev/null

  echo "== list, two pages by cursor"
  first=$(call GET '/users?per_page=1' "" "$ADMIN_TOKEN")
  cursor=$(jq -er '.next_cursor' <<<"$first")
  call GET "/users?per_page=1&cursor=$(jq -rn --arg c "$cursor" '$c|@uri')" "" "$ADMIN_TOKEN" |
    jq -e --argjson first "$first" '.page == 0 and .items[0].id != $first.items[0].id' >/dev/null

  echo "== logout-all"
  EXPECT=204 call POST /auth/logout-all "" "$ADMIN_TOKEN" >/dev/null
  EXPECT=401 call GET /users/stats "" "$ADMIN_TOKEN" >/dev/null
fi
echo "walkthrough ok"
