#!/usr/bin/env bash
# A walkthrough of the public API with curl and jq: register -> login -> me -> logout, the
# account lifecycle (verify, reset, change), then the admin flow. TestExamplesWalkthrough runs it
# against the service, so it cannot rot.
#
#   BASE_URL=http://localhost:8080 routes/docs/walkthrough.sh
#   # admin flow too: promote an account first (./bin/authapi users promote EMAIL --role admin)
#   BASE_URL=… ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD=… routes/docs/walkthrough.sh
#   # account lifecycle too (verify, reset, change): MAIL_TOKEN_CMD is a command that, run as
#   # `$MAIL_TOKEN_CMD EMAIL N`, waits for the N-th message to EMAIL and prints the token in its link
#   BASE_URL=… MAIL_TOKEN_CMD=… routes/docs/walkthrough.sh
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

echo "== check (what a gateway asks): 204, the identity in X-Auth-* headers; ?role=admin is 403"
curl -sS -o /dev/null -D - -H "Authorization: Bearer $TOKEN" "$BASE_URL/auth/check" | grep -qi '^x-auth-user-role: user'
EXPECT=403 call GET "/auth/check?role=admin" "" "$TOKEN" | jq -e '.code == "forbidden"' >/dev/null

echo "== public signing keys (empty under HS256)"
call GET /.well-known/jwks.json | jq -e '.keys | type == "array"' >/dev/null

echo "== logout"
EXPECT=204 call POST /auth/logout "" "$TOKEN" >/dev/null

echo "== me and check with the revoked token are 401"
EXPECT=401 call GET /auth/me "" "$TOKEN" | jq -e '.code == "unauthorized"' >/dev/null
EXPECT=401 call GET /auth/check "" "$TOKEN" | jq -e '.code == "unauthorized"' >/dev/null

echo "== forgot and resend answer 202 for any address"
unknown=$(jq -nc --arg e "nobody-$EMAIL" '{email: $e}')
EXPECT=202 call POST /auth/password/forgot "$unknown" | jq -e '.status == "accepted"' >/dev/null
EXPECT=202 call POST /auth/verify/resend "$unknown" | jq -e '.status == "accepted"' >/dev/null

echo "== verify with a token that was never sent is 400"
EXPECT=400 call POST /auth/verify '{"token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}' | jq -e '.code == "validation_error"' >/dev/null

if [ -n "${MAIL_TOKEN_CMD:-}" ]; then
  token_body() { jq -nc --arg t "$1" '{token: $t}'; }
  echo "== verify with the token of the verification mail"
  tok=$($MAIL_TOKEN_CMD "$EMAIL" 1)
  call POST /auth/verify "$(token_body "$tok")" | jq -e '.status.status == "active"' >/dev/null
  EXPECT=400 call POST /auth/verify "$(token_body "$tok")" >/dev/null

  echo "== forgot, then reset with the token of the reset mail"
  EXPECT=202 call POST /auth/password/forgot "$(jq -nc --arg e "$EMAIL" '{email: $e}')" >/dev/null
  tok=$($MAIL_TOKEN_CMD "$EMAIL" 2)
  PASSWORD2=new-$PASSWORD
  EXPECT=204 call POST /auth/password/reset "$(jq -nc --arg t "$tok" --arg p "$PASSWORD2" '{token: $t, password: $p}')" >/dev/null
  EXPECT=401 call POST /auth/login "$creds" >/dev/null
  TOKEN=$(call POST /auth/login "$(jq -nc --arg e "$EMAIL" --arg p "$PASSWORD2" '{email: $e, password: $p}')" | jq -er '.token')

  echo "== change the password: the token used stays valid"
  PASSWORD3=third-$PASSWORD
  EXPECT=204 call POST /auth/password/change \
    "$(jq -nc --arg c "$PASSWORD2" --arg n "$PASSWORD3" '{current_password: $c, new_password: $n}')" "$TOKEN" >/dev/null
  call GET /auth/me "" "$TOKEN" | jq -e '.status.status == "active"' >/dev/null
  call POST /auth/login "$(jq -nc --arg e "$EMAIL" --arg p "$PASSWORD3" '{email: $e, password: $p}')" >/dev/null
fi

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
