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
# SERVICES_RETRY_PORTS=1 lets a port that another process takes before Postgres or Redis binds it
# (a second clone starting at the same moment, during the seconds initdb takes) be replaced by a
# free one (docker/freeport.sh), a few times; without it the ports are exact. Either way the ports
# in use are written to DIR/pg.port and DIR/redis.port, and a failure is one line on stderr
# naming the cause from the server's own log.
#
# SERVICES_SHARE_SESSION=1 keeps Redis in the caller's session instead of letting --daemonize
# start a new one. Linux's autogroup scheduler shares CPU between sessions first and ranks
# threads by niceness only inside a session, so `just bench` uses this to measure the service's
# low-priority bcrypt against Redis on a two-core machine. (Postgres is left alone: every
# Postgres process calls setsid itself, so its backends run in groups of their own either way.)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
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
  if as_pg "$bin/pg_ctl" -D "$dir/pg" status >/dev/null 2>&1; then
    pg_port=$(sed -n 4p "$dir/pg/postmaster.pid")
  else
    start_pg "$bin"
  fi
  echo "$pg_port" > "$dir/pg.port"
  PGPASSWORD=postgres "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='authapi'" | grep -q 1 ||
    PGPASSWORD=postgres "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qc "CREATE DATABASE authapi"

  if ! redis_ours; then
    start_redis
  fi
  echo "$redis_port" > "$dir/redis.port"
  echo "services: postgres on 127.0.0.1:$pg_port, redis on 127.0.0.1:$redis_port (data in $dir)" >&2
  if [ -n "$pgbouncer_port" ]; then start_pgbouncer "$pg_port" "$pgbouncer_port"; fi
}

retry=${SERVICES_RETRY_PORTS:-0}
tries=5

# taken PORT reports whether something on 127.0.0.1 accepts connections on PORT.
taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# log_since FILE OFFSET prints what FILE gained after OFFSET bytes.
log_since() { tail -c +"$(($2 + 1))" "$1" 2>/dev/null || true; }
log_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# lost_port NAME PORT CAUSE: with SERVICES_RETRY_PORTS=1 and tries left, say so and return 0 (the
# caller picks another port); else print the one line that names the cause and exit.
lost_port() {
  if [ "$retry" = 1 ] && [ "$attempt" -lt "$tries" ]; then
    echo "services: $1 lost port $2 to another process ($3); retrying on another port" >&2
    return 0
  fi
  echo "services: $1 could not listen on 127.0.0.1:$2: $3 (another process took the port$([ "$retry" = 1 ] && echo " $tries times")); see $4" >&2
  exit 1
}

# start_pg BIN starts Postgres on pg_port. A port another process holds (found before the start,
# or as a bind failure in the server's log) is replaced by a free one with SERVICES_RETRY_PORTS=1.
start_pg() {
  local bin=$1 from new cause
  touch "$dir/pg.log" && { [ "$(id -u)" != 0 ] || chown postgres: "$dir/pg.log"; }
  for attempt in $(seq "$tries"); do
    if [ "$retry" = 1 ] && taken "$pg_port"; then
      lost_port postgres "$pg_port" "something already listens there" "$dir/pg.log"
      pg_port=$(docker_dir_freeport)
      continue
    fi
    from=$(log_size "$dir/pg.log")
    if as_pg "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 \
      -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null 2>&1; then
      return 0
    fi
    new=$(log_since "$dir/pg.log" "$from")
    cause=$(grep -m1 -oE 'could not bind [^:]*: .*|Address already in use' <<<"$new" || true)
    if [ -n "$cause" ]; then
      lost_port postgres "$pg_port" "$cause" "$dir/pg.log"
      pg_port=$(docker_dir_freeport)
      continue
    fi
    cause=$(grep -m1 -E '(FATAL|PANIC|ERROR): ' <<<"$new" | sed -E 's/.*((FATAL|PANIC|ERROR): )/\1/' || true)
    echo "services: postgres did not start: ${cause:-$(tail -n 1 <<<"$new")}; see $dir/pg.log" >&2
    exit 1
  done
}

# redis_ours reports whether the Redis answering on redis_port is the one of DIR (its pid file's
# process), not another clone's that took the port.
redis_ours() {
  local pid
  pid=$(cat "$dir/redis.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null &&
    [ "$(redis-cli -p "$redis_port" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')" = "$pid" ]
}

# start_redis starts Redis on redis_port and waits until its log says it is ready, so a Redis
# of someone else's that took the port is never mistaken for ours. A lost port is replaced as for
# Postgres.
start_redis() {
  local from new cause
  for attempt in $(seq "$tries"); do
    if [ "$retry" = 1 ] && taken "$redis_port"; then
      lost_port redis "$redis_port" "something already listens there" "$dir/redis.log"
      redis_port=$(docker_dir_freeport)
      continue
    fi
    from=$(log_size "$dir/redis.log")
    local redis_opts=(--port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no
      --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log")
    if [ "${SERVICES_SHARE_SESSION:-0}" = 1 ]; then
      (nohup redis-server "${redis_opts[@]}" --daemonize no </dev/null >/dev/null 2>&1 &)
    else
      redis-server "${redis_opts[@]}" --daemonize yes
    fi
    new=""
    for _ in $(seq 300); do # up to 30 s: a busy machine starts it slowly
      new=$(log_since "$dir/redis.log" "$from")
      grep -qE 'Ready to accept connections|Failed listening|aborting' <<<"$new" && break
      sleep 0.1
    done
    if grep -q 'Ready to accept connections' <<<"$new"; then
      return 0
    fi
    cause=$(grep -m1 -oE 'Could not create server TCP listening socket.*|Address already in use' <<<"$new" || true)
    if [ -n "$cause" ]; then
      lost_port redis "$redis_port" "$cause" "$dir/redis.log"
      redis_port=$(docker_dir_freeport)
      continue
    fi
    cause=$(grep -m1 -iE 'error|fatal|failed|aborting' <<<"$new" || tail -n 1 <<<"$new")
    echo "services: redis did not start: ${cause:-no log line within 30 s}; see $dir/redis.log" >&2
    exit 1
  done
}

# docker_dir_freeport prints a free port with freeport.sh, which sits next to this script.
docker_dir_freeport() { "$here/freeport.sh"; }

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
