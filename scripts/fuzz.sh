#!/usr/bin/env bash
# Runs every fuzz target in the repository (each `func FuzzX` in a _test.go file) for FUZZTIME (default
# 10s) each, one after the other. A failing input is written to the package's testdata/fuzz and stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
n=0
while IFS=: read -r file fn; do
  fn=${fn#func }; fn=${fn%%(*}
  echo "make fuzz: $fn in $(dirname "$file") for $FUZZTIME"
  go test -run '^$' -fuzz "^$fn\$" -fuzztime "$FUZZTIME" "$(dirname "$file")"
  n=$((n + 1))
done < <(grep -r --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*(' . | sort)
echo "make fuzz: $n targets, $FUZZTIME each"
