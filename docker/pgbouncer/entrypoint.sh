#!/bin/sh
# Writes pgbouncer.ini and the user list from the environment, then runs PgBouncer in the
# foreground. DB_HOST, DB_USER and DB_PASSWORD are required.
set -eu
: "${DB_HOST:?DB_HOST is required}" "${DB_USER:?DB_USER is required}" "${DB_PASSWORD:?DB_PASSWORD is required}"
dir=${PGBOUNCER_DIR:-/tmp/pgbouncer}
mkdir -p "$dir"
printf '"%s" "%s"\n' "$DB_USER" "$DB_PASSWORD" > "$dir/users.txt"
chmod 600 "$dir/users.txt"
cat > "$dir/pgbouncer.ini" <<INI
[databases]
* = host=$DB_HOST port=${DB_PORT:-5432}
[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/users.txt
pool_mode = transaction
max_client_conn = ${MAX_CLIENT_CONN:-1000}
default_pool_size = ${DEFAULT_POOL_SIZE:-20}
INI
exec pgbouncer "$dir/pgbouncer.ini"
