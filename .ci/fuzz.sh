#!/usr/bin/env bash
# Runs every Fuzz target of the module for a short time each.
set -euo pipefail
t=${1:-20s}
cd "$(dirname "$0")/.."
for pkg in $(go list -tags sqlite_fts5 ./...); do
  dir=$(go list -tags sqlite_fts5 -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== $pkg $f ($t)"
    go test -tags sqlite_fts5 -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg"
  done
done
