# Recipes for developing, testing and running the service. `just --list` shows them.
# Get just with `npm install -g rust-just` (or `cargo install just`, or your package manager).

set dotenv-load := true
set positional-arguments := false

export PATH := env_var("PATH") + ":/usr/local/go/bin:" + env_var_or_default("HOME", "/root") + "/go/bin"

# Development defaults; a .env file or the environment overrides them. DATABASE_URL and REDIS_URL
# have none here: unset, run/dev/migrate use private instances under .data (docker/devenv.sh).
# Nor has JWT_SECRET: unset, run/dev/migrate use a random one kept in .data/jwt_secret
# (docker/dev-secret.sh); the service refuses any value written in the repository.
export LOG_FORMAT := env_var_or_default("LOG_FORMAT", "text")

version := `git describe --tags --always --dirty 2>/dev/null || echo dev`

# List the recipes.
default:
    @just --list

# Build the binary into bin/authapi, version stamped.
build:
    @[ -x bin/authapi ] || echo "building authapi (first build downloads modules, may take a few minutes)…" >&2
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version={{version}}" -o bin/authapi .

# Run the service on DATABASE_URL and REDIS_URL, or (unset) on private ones under .data (no Docker).
run: build
    #!/usr/bin/env bash
    set -euo pipefail
    services=$(just ensure-services)  # its own line: set -e stops here when it fails
    eval "$services"
    export JWT_SECRET="${JWT_SECRET:-$(docker/dev-secret.sh)}"
    export MFA_ENCRYPTION_KEY="${MFA_ENCRYPTION_KEY:-$(docker/dev-secret.sh .data mfa)}"
    # Development only: with no SMTP_URL, log each mail's link instead of refusing to start.
    export MAIL_LOG_LINKS="${MAIL_LOG_LINKS:-true}"
    exec ./bin/authapi serve

# Run with hot reload: rebuild and restart on changes to .go and .sql files (installs air if missing).
dev:
    #!/usr/bin/env bash
    set -euo pipefail
    services=$(just ensure-services)  # its own line: set -e stops here when it fails
    eval "$services"
    export JWT_SECRET="${JWT_SECRET:-$(docker/dev-secret.sh)}"
    export MFA_ENCRYPTION_KEY="${MFA_ENCRYPTION_KEY:-$(docker/dev-secret.sh .data mfa)}"
    [ -x tmp/authapi ] || echo "building authapi (first build downloads modules, may take a few minutes)…" >&2
    # Development only: with no SMTP_URL, log each mail's link instead of refusing to start.
    export MAIL_LOG_LINKS="${MAIL_LOG_LINKS:-true}"
    command -v air >/dev/null || go install github.com/air-verse/air@v1.67.4
    exec air --build.cmd "go build -o ./tmp/authapi ." --build.entrypoint "./tmp/authapi" \
      --build.include_ext "go,sql" --build.exclude_dir "tmp,bin,.data,docker" \
      --build.delay 200 --build.send_interrupt true --build.kill_delay 1s --misc.clean_on_exit true

# Run every test on private Postgres, Redis and PgBouncer (free ports), or on TEST_*_URL when set.
test *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -z "${TEST_DATABASE_URL:-}" ] || [ -z "${TEST_REDIS_URL:-}" ]; then
      dir=$(mktemp -d /tmp/authapi-test.XXXXXX)
      trap 'docker/services.sh stop "$dir"; rm -rf "$dir"' EXIT
      pg=$(docker/freeport.sh); rd=$(docker/freeport.sh); pb=$(docker/freeport.sh)
      # A port taken before the server binds it is replaced; the ports used are in $dir/*.port.
      SERVICES_RETRY_PORTS=1 docker/services.sh start "$dir" "$pg" "$rd" "$pb"
      pg=$(cat "$dir/pg.port"); rd=$(cat "$dir/redis.port")
      export TEST_DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$pg/postgres?sslmode=disable"
      export TEST_REDIS_URL="redis://127.0.0.1:$rd/0"
      # The API tests' service reaches Postgres through PgBouncer in transaction pooling mode.
      export TEST_PGBOUNCER_URL="postgres://postgres:postgres@127.0.0.1:$pb/postgres?sslmode=disable"
    fi
    # The gateway test runs Debian's nginx; services.sh installs it with the others when it
    # starts them, and here when the services were given.
    if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
      [ "$(id -u)" = 0 ] || { echo "test: nginx missing; apt-get install -y nginx (or nginx-light)" >&2; exit 1; }
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
    fi
    if ! command -v chromium >/dev/null; then
      # The account page tests click mail links in headless Chromium; they fail without it.
      echo "test: installing chromium (apt-get)" >&2
      sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
        echo "test: could not install chromium; the browser tests will fail (apt-get install chromium)" >&2
    fi
    go test -count=1 {{ARGS}} ./...
    just check-deploy

# `just soak 10m`; SOAK_RATE sets rounds per second (default 40, 5 requests each). Private
# Postgres+Redis as in `just test`. Fails on any error or unbounded RSS growth.

# Soak the real binary: mixed workload, errors, latency percentiles, RSS at start and end.
soak DURATION="2m":
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -z "${TEST_DATABASE_URL:-}" ] || [ -z "${TEST_REDIS_URL:-}" ]; then
      dir=$(mktemp -d /tmp/authapi-soak.XXXXXX)
      trap 'docker/services.sh stop "$dir"; rm -rf "$dir"' EXIT
      pg=$(docker/freeport.sh); rd=$(docker/freeport.sh)
      SERVICES_RETRY_PORTS=1 docker/services.sh start "$dir" "$pg" "$rd"
      pg=$(cat "$dir/pg.port"); rd=$(cat "$dir/redis.port")
      export TEST_DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$pg/postgres?sslmode=disable"
      export TEST_REDIS_URL="redis://127.0.0.1:$rd/0"
    fi
    SOAK_DURATION={{DURATION}} go test -count=1 -timeout 0 -run '^TestProcessSoak$' -v ./app | grep -E 'soak|^(ok|FAIL|---)'

# docker/deploycheck is a separate Go module, so its dependencies stay out of the service's go.mod.
# -mod=mod: that module requires this one through a replace, so a new dependency of the service
# must not fail the check until someone runs go mod tidy there.

# Check compose, k8s, the Dockerfile and the dev scripts (devenv port races) without a Docker engine.
check-deploy:
    cd docker/deploycheck && GOFLAGS=-mod=mod go vet ./... && GOFLAGS=-mod=mod go test -count=1 ./...

# Lint with golangci-lint v2 and the committed .golangci.yml.
lint:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v golangci-lint >/dev/null || go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
    golangci-lint run ./...
    cd docker/deploycheck && golangci-lint run --config ../../.golangci.yml ./...

# Lint routes/openapi.json with redocly's recommended rules (routes/redocly.yaml); installs the pinned CLI.
lint-openapi:
    #!/usr/bin/env bash
    set -euo pipefail
    want=2.77.0
    [ "$(redocly --version 2>/dev/null | head -n 1)" = "$want" ] || npm install -g --silent --no-fund --no-audit "@redocly/cli@$want" >/dev/null
    REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true redocly lint --config routes/redocly.yaml --format=stylish

# Regenerate the settings table (config/README.md) and .env.example from config/settings.go.
config-docs:
    go test ./config -run '^TestSettingsDocs$' -count=1 -update

# Format the code.
fmt:
    gofmt -w .

# Run migrations: just migrate up|down|status|create NAME
migrate *ARGS: build
    #!/usr/bin/env bash
    set -euo pipefail
    services=$(just ensure-services)  # its own line: set -e stops here when it fails
    eval "$services"
    export JWT_SECRET="${JWT_SECRET:-$(docker/dev-secret.sh)}"
    export MFA_ENCRYPTION_KEY="${MFA_ENCRYPTION_KEY:-$(docker/dev-secret.sh .data mfa)}"
    exec ./bin/authapi migrate {{ARGS}}

# Make a registered account admin (from its next login) on the services and secret of `just run`.
admin EMAIL: build
    #!/usr/bin/env bash
    set -euo pipefail
    services=$(just ensure-services)  # its own line: set -e stops here when it fails
    eval "$services"
    export JWT_SECRET="${JWT_SECRET:-$(docker/dev-secret.sh)}"
    export MFA_ENCRYPTION_KEY="${MFA_ENCRYPTION_KEY:-$(docker/dev-secret.sh .data mfa)}"
    exec ./bin/authapi users promote {{quote(EMAIL)}} --role admin

# Ports 55432 and 56379 when free, others otherwise; a system Postgres or Redis is left alone.

# Start the private Postgres and Redis under .data/ (git-ignored, no Docker) and print their URLs.
services:
    #!/usr/bin/env bash
    set -euo pipefail
    env -u DATABASE_URL -u REDIS_URL docker/devenv.sh .data

# Stop the private services started by `just services` (or run/dev).
services-down:
    docker/services.sh stop .data

# Print `export DATABASE_URL=… REDIS_URL=…`: the ones set, checked, or private ones under .data.
[private]
ensure-services:
    @docker/devenv.sh .data

# Start the Docker Compose stack (needs a Docker engine).
up:
    docker compose -f docker/compose.yaml --env-file .env up -d --build

# Stop the Docker Compose stack.
down:
    docker compose -f docker/compose.yaml down

# Benchmark: build, private Postgres+Redis, seed 1,000,000 users, run every scenario, write
# app/bench/results/report.md and chart.svg. About 7½ minutes on 2 cores. The /auth/me load is
# driven by wrk (installed here with apt-get if missing). Redis stays in this session, so in
# the service's scheduling group; login and isolation are measured with bcrypt in the service's
# child process (the default) and again on its own threads (BCRYPT_PROCESS=false).

# Benchmark the service: wrk, a pgx floor, what each middleware costs (see app/bench/README.md).
bench *ARGS: build
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v wrk >/dev/null; then
      sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    fi
    dir=$(mktemp -d /tmp/authapi-bench.XXXXXX)
    trap 'docker/services.sh stop "$dir"; rm -rf "$dir"' EXIT
    pg=$(docker/freeport.sh); rd=$(docker/freeport.sh)
    SERVICES_SHARE_SESSION=1 docker/services.sh start "$dir" "$pg" "$rd"
    go run ./app/bench -bin bin/authapi -out app/bench/results \
      -db "postgres://postgres:postgres@127.0.0.1:$pg/authapi?sslmode=disable" \
      -redis "redis://127.0.0.1:$rd/0" {{ARGS}}

# Serve the binary on free ports, check /docs renders in headless Chromium, save routes/docs/openapi-docs.png.
docs-screenshot: build
    #!/usr/bin/env bash
    set -euo pipefail
    services=$(just ensure-services)  # its own line: set -e stops here when it fails
    eval "$services"
    command -v chromium >/dev/null || { echo "needs Debian's chromium: apt-get install chromium" >&2; exit 1; }
    port=$(docker/freeport.sh); admin=$(docker/freeport.sh); profile=$(mktemp -d)
    export JWT_SECRET="${JWT_SECRET:-$(docker/dev-secret.sh)}"
    export MFA_ENCRYPTION_KEY="${MFA_ENCRYPTION_KEY:-$(docker/dev-secret.sh .data mfa)}"
    MAIL_LOG_LINKS=true HOST=127.0.0.1 PORT=$port ADMIN_HOST=127.0.0.1 ADMIN_PORT=$admin LOG_LEVEL=warn ./bin/authapi serve & pid=$!
    trap 'kill $pid; rm -rf "$profile"' EXIT
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/openapi.json" >/dev/null && break; sleep 0.1; done
    flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
      --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars
      --window-size=1400,1000 --virtual-time-budget=15000)
    dom=$(chromium "${flags[@]}" --dump-dom "http://127.0.0.1:$port/docs" 2>/dev/null)
    for op in "Create an account" "Get a bearer token" "List users" "Create active users in bulk"; do
      grep -q "$op" <<<"$dom" || { echo "/docs did not render \"$op\"" >&2; exit 1; }
    done
    mkdir -p docs
    chromium "${flags[@]}" --screenshot=routes/docs/openapi-docs.png "http://127.0.0.1:$port/docs" 2>/dev/null
    echo "routes/docs/openapi-docs.png: the routes render"

# Service vs the bare servers of ../shared/floor on /auth/me and /auth/check (wrk, 3 rounds).
floor:
    app/bench/floor.sh
