#!/usr/bin/env bash
# `just floor`: the service against the bare servers of ../shared/floor (FLOOR_DB=pgdriver, the
# same driver, by default; FLOOR_DB=pgx for the pgx floor), on GET /auth/me and GET /auth/check,
# wrk in its own process, 3 alternating rounds of 8 s after a 2 s warm-up each. Prints one line
# per round and side; every answer must be 2xx (non2xx empty).
set -euo pipefail
cd "$(dirname "$0")/../.."
floor_src=${FLOOR_SRC:-../shared/floor}
(cd "$floor_src" && go build -o "$OLDPWD/bin/floor" .)
[ -x bin/authapi ] || just build >/dev/null
command -v wrk >/dev/null || { echo "floor: needs wrk (apt-get install wrk)" >&2; exit 1; }
dir=$(mktemp -d); pg=$(docker/freeport.sh); rd=$(docker/freeport.sh)
docker/services.sh start "$dir" $pg $rd >/dev/null 2>&1
svc= flo=
trap 'kill $svc $flo 2>/dev/null; docker/services.sh stop "$dir" >/dev/null 2>&1' EXIT
DB="postgres://postgres:postgres@127.0.0.1:$pg/postgres?sslmode=disable"; RD="redis://127.0.0.1:$rd/0"
SECRET=$(head -c 48 /dev/urandom | base64 -w0)
sp=$(docker/freeport.sh); ap=$(docker/freeport.sh); fp=$(docker/freeport.sh)
HOST=127.0.0.1 PORT=$sp ADMIN_HOST=127.0.0.1 ADMIN_PORT=$ap DATABASE_URL=$DB REDIS_URL=$RD JWT_SECRET=$SECRET \
  MAIL_LOG_LINKS=true DB_MAX_CONNECTIONS=8 LOG_LEVEL=info ./bin/authapi serve >/dev/null 2>&1 & svc=$!
for i in $(seq 100); do curl -sf 127.0.0.1:$ap/readyz >/dev/null && break; sleep 0.2; done
curl -s -XPOST 127.0.0.1:$sp/auth/register -H 'Content-Type: application/json' -d '{"email":"bench@example.com","password":"tangerine-kite-42"}' >/dev/null
TOKEN=$(curl -s -XPOST 127.0.0.1:$sp/auth/login -H 'Content-Type: application/json' -d '{"email":"bench@example.com","password":"tangerine-kite-42"}' | jq -r .token)
FLOOR_DB=${FLOOR_DB:-pgdriver} HOST=127.0.0.1 PORT=$fp JWT_SECRET=$SECRET JWT_ISSUER=auth-api DATABASE_URL=$DB REDIS_URL=$RD DB_MAX_CONNECTIONS=8 bin/floor >/dev/null 2>&1 & flo=$!
sleep 1
for path in /auth/me /auth/check; do
  for port in $sp $fp; do wrk -t1 -c64 -d2s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:$port$path >/dev/null; done
  for round in 1 2 3; do
    for side in service floor; do
      port=$sp; [ $side = floor ] && port=$fp
      r=$(wrk -t1 -c64 -d8s --latency -H "Authorization: Bearer $TOKEN" http://127.0.0.1:$port$path)
      echo "$path round $round $side $(echo "$r" | awk '/Requests\/sec/{print $2}') req/s p99 $(echo "$r" | awk '$1=="99%"{print $2}') non2xx $(echo "$r" | awk '/Non-2xx/{print $4}')"
    done
  done
done
