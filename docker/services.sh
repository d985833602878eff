#!/usr/bin/env bash
# Private Postgres and Redis without Docker: for `just services`, `just run`, `just test` and CI.
#
#   docker/services.sh start DIR PG_PORT REDIS_PORT [PGBOUNCER_PORT]
#                                                     start them (installing them if missing)
#   docker/services.sh stop DIR                       stop them
#
# DIR holds the data and logs. Postgres listens on 127.0.0.1 only, user postgres, password
# postgres, with a database "authapi"; Redis on 127.0.0.1 with no persistence unless asked.
# With PGBOUNCER_PORT, PgBouncer listens there in transaction pooling mode in front of that
# Postgres, for every database name (a "*" entry), same user and password (`just test` runs the
# API tests through it).
#
# SERVICES_SHARE_SESSION=1 keeps Redis in the caller's session instead of letting --daemonize
# start a new one. Linux's autogroup scheduler shares CPU between sessions first and ranks
# threads by niceness only inside a session, so `just bench` uses this to measure the service's
# low-priority bcrypt against Redis on a two-core machine. (Postgres is left alone: every
# Postgres process calls setsid itself, so its backends run in groups of their own either way.)
set -euo pipefail

cmd=${1:?usage: services.sh start|stop DIR [PG_PORT REDIS_PORT [PGBOUNCER_PORT]]}
dir=${2:?data directory required}

pg_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "services: installing postgresql" >&2
    apt_install postgresql
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$bin"
}

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "services: $* missing; install it (apt-get install -y $*) and retry" >&2
    exit 1
  fi
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# pg_reaches reports whether the postgres user can enter every directory down to $1.
pg_reaches() {
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  local d=$1
  while [ "$d" != / ]; do
    runuser -u postgres -- test -x "$d" 2>/dev/null || return 1
    d=$(dirname "$d")
  done
}

# Postgres refuses to run as root: run it as the postgres user when we are root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

start() {
  local pg_port=${1:-5432} redis_port=${2:-6379}
  command -v redis-server >/dev/null || apt_install redis-server
  local bin
  bin=$(pg_bin)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ] && ! pg_reaches "$dir"; then
    # A checkout under a private directory (/root, a mktemp -d): keep the data outside it, in
    # a directory named after the checkout's path, and leave a symlink where it was asked for.
    if [ -n "$(ls -A "$dir")" ]; then
      echo "services: the postgres user cannot reach $dir; use a data directory outside it" >&2
      exit 1
    fi
    local outside
    outside=/var/tmp/authapi-data-$(printf %s "$dir" | cksum | cut -d' ' -f1)
    mkdir -p "$outside" && chmod 755 "$outside"
    rmdir "$dir" && ln -s "$outside" "$dir"
    echo "services: the postgres user cannot reach $dir; data kept in $outside (symlinked)" >&2
    dir=$outside
  fi

  if [ ! -f "$dir/pg/PG_VERSION" ]; then
    mkdir -p "$dir/pg"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir/pg"
    echo postgres > "$dir/pwfile"
    chmod 644 "$dir/pwfile"
    as_pg "$bin/initdb" -D "$dir/pg" -U postgres --pwfile="$dir/pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    rm -f "$dir/pwfile"
  fi
  if ! as_pg "$bin/pg_ctl" -D "$dir/pg" status >/dev/null 2>&1; then
    touch "$dir/pg.log" && { [ "$(id -u)" != 0 ] || chown postgres: "$dir/pg.log"; }
    as_pg "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 30 \
      -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null || { cat "$dir/pg.log" >&2; exit 1; }
  fi
  PGPASSWORD=postgres "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='authapi'" | grep -q 1 ||
    PGPASSWORD=postgres "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qc "CREATE DATABASE authapi"

  if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    local redis_opts=(--port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no
      --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log")
    if [ "${SERVICES_SHARE_SESSION:-0}" = 1 ]; then
      (nohup redis-server "${redis_opts[@]}" --daemonize no </dev/null >/dev/null 2>&1 &)
    else
      redis-server "${redis_opts[@]}" --daemonize yes
    fi
    for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "$redis_port" > "$dir/redis.port"
  echo "services: postgres on 127.0.0.1:$pg_port, redis on 127.0.0.1:$redis_port (data in $dir)" >&2
  if [ -n "$pgbouncer_port" ]; then start_pgbouncer "$pg_port" "$pgbouncer_port"; fi
}

# start_pgbouncer runs PgBouncer (as the postgres user: it refuses to run as root) in transaction
# pooling mode. Servers idle for 10 s are closed, because tests create and drop many databases.
start_pgbouncer() {
  local pg_port=$1 port=$2 pb="$dir/pgbouncer"
  command -v pgbouncer >/dev/null || apt_install pgbouncer
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
  mkdir -p "$pb"
  echo '"postgres" "postgres"' > "$pb/users.txt"
  chmod 600 "$pb/users.txt"
  cat > "$pb/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $pb/users.txt
admin_users = postgres
pool_mode = transaction
max_client_conn = 900
default_pool_size = 20
server_idle_timeout = 10
logfile = $pb/pgbouncer.log
pidfile = $pb/pgbouncer.pid
INI
  [ "$(id -u)" = 0 ] && chown -R postgres: "$pb"
  as_pg pgbouncer -q -d "$pb/pgbouncer.ini" || { cat "$pb/pgbouncer.log" >&2; exit 1; }
  for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "services: pgbouncer (transaction pooling) on 127.0.0.1:$port" >&2
      return 0
    fi
    sleep 0.1
  done
  cat "$pb/pgbouncer.log" >&2
  exit 1
}

stop() {
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd -P) # as_pg runs from /: the path must be absolute (and real)
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$bin" ] && [ -f "$dir/pg/PG_VERSION" ]; then
    as_pg "$bin/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -f "$dir/pgbouncer/pgbouncer.pid" ]; then
    kill "$(cat "$dir/pgbouncer/pgbouncer.pid")" 2>/dev/null || true
  fi
  if [ -f "$dir/redis.pid" ]; then
    kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    rm -f "$dir/redis.pid"
  fi
}

case "$cmd" in
  start) pgbouncer_port=${5:-}; start "${3:-5432}" "${4:-6379}" ;;
  stop) stop ;;
  *) echo "usage: services.sh start|stop DIR [PG_PORT REDIS_PORT [PGBOUNCER_PORT]]" >&2; exit 2 ;;
esac
