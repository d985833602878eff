# Recipes for developing, testing and running the service. `just --list` shows them.
# Get just with `npm install -g rust-just` (or `cargo install just`, or your package manager).

set dotenv-load := true
set positional-arguments := false

export PATH := env_var("PATH") + ":/usr/local/go/bin:" + env_var_or_default("HOME", "/root") + "/go/bin"

# Development defaults; a .env file or the environment overrides them.
export JWT_SECRET := env_var_or_default("JWT_SECRET", "dev-only-secret-change-me-0123456789abcdef")
export DATABASE_URL := env_var_or_default("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/authapi?sslmode=disable")
export REDIS_URL := env_var_or_default("REDIS_URL", "redis://127.0.0.1:6379/0")
export LOG_FORMAT := env_var_or_default("LOG_FORMAT", "text")

version := `git describe --tags --always --dirty 2>/dev/null || echo dev`

# List the recipes.
default:
    @just --list

# Build the binary into bin/authapi, version stamped.
build:
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version={{version}}" -o bin/authapi .

# Run the service; starts local Postgres and Redis (no Docker) if none answer on the default ports.
run: ensure-services build
    ./bin/authapi serve

# Run with hot reload: rebuild and restart on changes to .go and .sql files (installs air if missing).
dev: ensure-services
    #!/usr/bin/env bash
    set -euo pipefail
    command -v air >/dev/null || go install github.com/air-verse/air@v1.67.4
    exec air --build.cmd "go build -o ./tmp/authapi ." --build.bin "./tmp/authapi" \
      --build.include_ext "go,sql" --build.exclude_dir "tmp,bin,.data,docker" \
      --build.delay 200 --build.send_interrupt true --build.kill_delay 1s --misc.clean_on_exit true

# Run all tests on private Postgres+Redis (free ports), or on TEST_DATABASE_URL+TEST_REDIS_URL.
test *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -z "${TEST_DATABASE_URL:-}" ] || [ -z "${TEST_REDIS_URL:-}" ]; then
      dir=$(mktemp -d /tmp/authapi-test.XXXXXX)
      trap 'docker/services.sh stop "$dir"; rm -rf "$dir"' EXIT
      pg=$(docker/freeport.sh); rd=$(docker/freeport.sh)
      docker/services.sh start "$dir" "$pg" "$rd"
      export TEST_DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$pg/postgres?sslmode=disable"
      export TEST_REDIS_URL="redis://127.0.0.1:$rd/0"
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
      docker/services.sh start "$dir" "$pg" "$rd"
      export TEST_DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$pg/postgres?sslmode=disable"
      export TEST_REDIS_URL="redis://127.0.0.1:$rd/0"
    fi
    SOAK_DURATION={{DURATION}} go test -count=1 -timeout 0 -run '^TestProcessSoak$' -v ./app | grep -E 'soak|^(ok|FAIL|---)'

# Check docker/compose.yaml and docker/k8s with the real Compose loader and kustomize (a separate
# Go module, so their dependencies stay out of the service's go.mod). Needs no Docker engine.
# -mod=mod: that module requires this one through a replace, so a new dependency of the service
# must not fail the check until someone runs go mod tidy there.
check-deploy:
    cd docker/deploycheck && GOFLAGS=-mod=mod go vet ./... && GOFLAGS=-mod=mod go test -count=1 ./...

# Lint with golangci-lint v2 and the committed .golangci.yml.
lint:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v golangci-lint >/dev/null || go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
    golangci-lint run ./...
    cd docker/deploycheck && golangci-lint run --config ../../.golangci.yml ./...

# Format the code.
fmt:
    gofmt -w .

# Run migrations: just migrate up|down|status|create NAME
migrate *ARGS: build
    ./bin/authapi migrate {{ARGS}}

# Start local Postgres (5432) and Redis (6379) without Docker; data under .data/ (git-ignored).
services:
    docker/services.sh start .data 5432 6379

# Stop the local services started by `just services`.
services-down:
    docker/services.sh stop .data

# Start the services only if nothing answers on the configured ports.
[private]
ensure-services:
    #!/usr/bin/env bash
    pg_port=$(echo "$DATABASE_URL" | sed -E 's#.*@[^:/]+:([0-9]+)/.*#\1#'); pg_port=${pg_port//[^0-9]/}
    rd_port=$(echo "$REDIS_URL" | sed -E 's#redis://([^@]*@)?[^:/]+:([0-9]+).*#\2#'); rd_port=${rd_port//[^0-9]/}
    up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
    if up "${pg_port:-5432}" && up "${rd_port:-6379}"; then exit 0; fi
    docker/services.sh start .data "${pg_port:-5432}" "${rd_port:-6379}"

# Start the Docker Compose stack (needs a Docker engine).
up:
    docker compose -f docker/compose.yaml --env-file .env up -d --build

# Stop the Docker Compose stack.
down:
    docker compose -f docker/compose.yaml down

# Benchmark: build, private Postgres+Redis, seed 1,000,000 users, run every scenario, write
# app/bench/results/report.md and chart.svg. About 4 minutes on 2 cores. Redis stays in this
# session, so in the service's scheduling group; the harness also measures the service in a
# session of its own (see "Scheduling groups" in the README).
bench *ARGS: build
    #!/usr/bin/env bash
    set -euo pipefail
    dir=$(mktemp -d /tmp/authapi-bench.XXXXXX)
    trap 'docker/services.sh stop "$dir"; rm -rf "$dir"' EXIT
    pg=$(docker/freeport.sh); rd=$(docker/freeport.sh)
    SERVICES_SHARE_SESSION=1 docker/services.sh start "$dir" "$pg" "$rd"
    go run ./app/bench -bin bin/authapi -out app/bench/results \
      -db "postgres://postgres:postgres@127.0.0.1:$pg/authapi?sslmode=disable" \
      -redis "redis://127.0.0.1:$rd/0" {{ARGS}}

# Serve the binary on free ports, check /docs renders in headless Chromium, save routes/docs/openapi-docs.png.
docs-screenshot: ensure-services build
    #!/usr/bin/env bash
    set -euo pipefail
    command -v chromium >/dev/null || { echo "needs Debian's chromium: apt-get install chromium" >&2; exit 1; }
    port=$(docker/freeport.sh); admin=$(docker/freeport.sh); profile=$(mktemp -d)
    HOST=127.0.0.1 PORT=$port ADMIN_HOST=127.0.0.1 ADMIN_PORT=$admin LOG_LEVEL=warn ./bin/authapi serve & pid=$!
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
