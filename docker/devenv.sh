#!/usr/bin/env bash
# The Postgres and Redis that `just run`, `just dev` and `just migrate` use, whatever the machine
# already runs. Prints `export DATABASE_URL=… REDIS_URL=…` lines for the recipe to eval.
#
#   docker/devenv.sh DIR
#
# A URL the user set (environment or .env) is used as it is, after checking that it answers and
# (with psql at hand) accepts the login. An unset one points at a private instance under DIR,
# started if it is not running, on a port of its own chosen once and recorded in DIR/pg.port or
# DIR/redis.port: 55432 and 56379 when free, another free port otherwise. So a system Postgres on
# 5432 or Redis on 6379 is neither used nor in the way (DEVENV_PG_PORT and DEVENV_REDIS_PORT change
# the preferred ports). A port taken by another process between that choice and the server's bind
# (a second clone starting at the same moment, while initdb runs) is replaced by services.sh with
# another free one. Every failure is one line naming its cause.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: devenv.sh DIR}

fail() { echo "devenv: $*" >&2; exit 1; }
answers() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; } # host:port
listening() { answers "127.0.0.1:$1"; }

pg_alive() { [ -f "$dir/pg/postmaster.pid" ] && kill -0 "$(head -n 1 "$dir/pg/postmaster.pid")" 2>/dev/null; }
redis_alive() { [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; }

# own_port NAME PREFERRED ALIVE prints the port of the private NAME: the one it runs on, else the
# one recorded, else PREFERRED or any free port (recorded after the start). A recorded port that
# someone else took while ours was stopped is replaced: the private instance never meets a stranger.
own_port() {
  local file=$dir/$1.port port=""
  if [ "$1" = pg ] && pg_alive; then
    port=$(sed -n 4p "$dir/pg/postmaster.pid") # e.g. started by an older recipe on 5432
  elif [ -s "$file" ]; then
    port=$(cat "$file")
    if ! $3 && listening "$port"; then port=""; fi
  fi
  if [ -z "$port" ]; then
    port=$2
    if listening "$port"; then port=$(docker/freeport.sh); fi
  fi
  echo "$port"
}

# hostport URL DEFAULT_PORT prints the host:port of a single-host URL.
hostport() {
  local rest=${1#*://}
  rest=${rest##*@}
  rest=${rest%%/*}
  rest=${rest%%\?*}
  case $rest in
    *:*) echo "$rest" ;;
    "") echo "127.0.0.1:$2" ;;
    *) echo "$rest:$2" ;;
  esac
}

psql_bin=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1 || true)

# check_user_pg logs in with psql, which understands every form of URL; without psql it can
# only see whether the host answers.
check_user_pg() {
  local hp err
  hp=$(hostport "$DATABASE_URL" 5432)
  if [ -z "$psql_bin" ]; then
    answers "$hp" || fail "nothing answers at $hp (DATABASE_URL); start that Postgres, fix DATABASE_URL in .env, or unset it to use a private one under $dir"
    return
  fi
  err=$("$psql_bin" "$DATABASE_URL" -tAqc 'SELECT 1' 2>&1 >/dev/null | head -n 1) ||
    fail "DATABASE_URL ($hp) refuses: ${err#*error: } — fix DATABASE_URL in .env, or unset it to use a private Postgres under $dir"
}

# check_user_redis pings a plain redis:// URL; TLS, unix sockets and several nodes (?addr=) are
# left to the service's own start-up checks.
check_user_redis() {
  case $REDIS_URL in redis://*) ;; *) return ;; esac
  case $REDIS_URL in *addr=*) return ;; esac
  local hp out
  hp=$(hostport "$REDIS_URL" 6379)
  answers "$hp" || fail "nothing answers at $hp (REDIS_URL); start that Redis, fix REDIS_URL in .env, or unset it to use a private one under $dir"
  command -v redis-cli >/dev/null || return 0
  # redis-cli reports a refused AUTH and still sends PING: both must pass, as for the service.
  out=$(redis-cli --no-auth-warning -u "$REDIS_URL" ping 2>&1 || true)
  if [ "$(tail -n 1 <<<"$out")" != PONG ] || grep -q 'AUTH failed' <<<"$out"; then
    fail "REDIS_URL ($hp) refuses: $(head -n 1 <<<"$out") — fix REDIS_URL in .env, or unset it to use a private Redis under $dir"
  fi
}

pref_pg=${DEVENV_PG_PORT:-55432} pref_redis=${DEVENV_REDIS_PORT:-56379}
pg_port="" redis_port=""
if [ -n "${DATABASE_URL:-}" ]; then check_user_pg; else pg_port=$(own_port pg "$pref_pg" pg_alive); fi
if [ -n "${REDIS_CLUSTER_ADDRS:-}${REDIS_SENTINEL_ADDRS:-}" ]; then
  : # a Redis Cluster or Sentinel topology is configured: the service checks it itself at start
elif [ -n "${REDIS_URL:-}" ]; then check_user_redis; else redis_port=$(own_port redis "$pref_redis" redis_alive); fi

if [ -n "$pg_port" ] || [ -n "$redis_port" ]; then
  # services.sh starts whichever of the two is not running. When the user provides one of them,
  # its private twin starts too, idle on a port of its own: simpler than a second start path.
  pg=${pg_port:-$(own_port pg "$pref_pg" pg_alive)} rd=${redis_port:-$(own_port redis "$pref_redis" redis_alive)}
  # (Nothing is written under DIR before services.sh runs: it may move an empty DIR elsewhere.)
  # It runs initdb first, then starts each server, on another free port if this one was taken
  # meanwhile, and records the ports it used in DIR/pg.port and DIR/redis.port.
  log=$(mktemp)
  if ! SERVICES_RETRY_PORTS=1 docker/services.sh start "$dir" "$pg" "$rd" >/dev/null 2>"$log"; then
    # services.sh ends a failure with one line naming the cause (from the server's own log).
    cause=$(grep -E '^services: .*(did not start|could not|missing|cannot)' "$log" | tail -n 1 ||
      grep -m1 -iE 'error|fatal|missing|cannot' "$log" || tail -n 1 "$log")
    rm -f "$log"
    fail "could not start the private Postgres and Redis under $dir: ${cause#services: }"
  fi
  rm -f "$log"
  if [ -n "$pg_port" ]; then pg_port=$(cat "$dir/pg.port"); fi
  if [ -n "$redis_port" ]; then redis_port=$(cat "$dir/redis.port"); fi
fi

if [ -n "$pg_port" ]; then DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$pg_port/authapi?sslmode=disable"; fi
if [ -n "$redis_port" ]; then REDIS_URL="redis://127.0.0.1:$redis_port/0"; fi
printf 'export DATABASE_URL=%q\n' "$DATABASE_URL"
if [ -n "${REDIS_URL:-}" ]; then printf 'export REDIS_URL=%q\n' "$REDIS_URL"; fi
