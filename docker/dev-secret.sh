#!/usr/bin/env bash
# Prints the development JWT_SECRET kept in DIR/jwt_secret (DIR defaults to .data, which git
# ignores), creating a random one on first use. `just run`, `just dev` and `just migrate` use it
# when JWT_SECRET is unset, so they work out of the box while the service itself refuses to
# start without a secret of its own. Never use it for a deployment: set JWT_SECRET there.
set -euo pipefail
dir=${1:-.data}
file="$dir/jwt_secret"
if [ ! -s "$file" ]; then
  mkdir -p "$dir"
  # 48 random bytes, base64: the form the README recommends (openssl rand -base64 48).
  (umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$file.tmp" && mv "$file.tmp" "$file")
fi
cat "$file"
