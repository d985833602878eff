#!/usr/bin/env bash
# Prints the development JWT_SECRET kept in DIR/jwt_secret (DIR defaults to .data, which git
# ignores), creating a random one on first use; with KIND "mfa", the development
# MFA_ENCRYPTION_KEY kept in DIR/mfa_key (32 random bytes, base64). `just run`, `just dev` and
# `just migrate` use them when the variables are unset, so they work out of the box while the
# service itself refuses any value written in the repository. Never use them for a deployment.
# usage: dev-secret.sh [DIR] [jwt|mfa]
set -euo pipefail
dir=${1:-.data}
kind=${2:-jwt}
case "$kind" in
  jwt) file="$dir/jwt_secret"; bytes=48 ;; # the form the README recommends (openssl rand -base64 48)
  mfa) file="$dir/mfa_key"; bytes=32 ;;    # MFA_ENCRYPTION_KEY is exactly 32 bytes
  *) echo "dev-secret.sh: KIND is jwt or mfa" >&2; exit 2 ;;
esac
if [ ! -s "$file" ]; then
  mkdir -p "$dir"
  (umask 077 && head -c "$bytes" /dev/urandom | base64 -w0 >"$file.tmp" && mv "$file.tmp" "$file")
fi
cat "$file"
