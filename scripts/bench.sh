#!/usr/bin/env bash
# make bench: the daemon-level benchmark (cmd/edgegw-bench). The real daemon and edgegw-sim as separate
# processes at 1,000 / 10,000 / 50,000 claimed devices (QUICK=1: 1,000 and 10,000 at a 10 s interval,
# about 5 minutes with a broker), cloud off and on (RabbitMQ from scripts/peers when it runs), the bare gosnmp loop,
# the /16 sweep, the uplink beside bare go-amqp, Telegraf with TELEGRAF_BIN. Writes BENCHMARKS.md.
# Loopback only; every process is the benchmark's own and every phase is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
if [[ "${QUICK:-0}" == 1 ]]; then args+=(--quick); fi
if [[ -n "${BENCH_SIZES:-}" ]]; then args+=(--sizes "$BENCH_SIZES"); fi
if [[ -n "${BENCH_PARTS:-}" ]]; then args+=(--parts "$BENCH_PARTS"); fi
# What BENCHMARKS.md names as the command.
via="make bench"
for v in QUICK BENCH_SIZES BENCH_PARTS TELEGRAF_BIN; do [[ -z "${!v:-}" ]] || via="$v=${!v} $via"; done
export EDGEGW_BENCH_VIA=$via
go build -tags gosnmp_nodebug -o bin/ ./cmd/...
exec bin/edgegw-bench ${args[@]+"${args[@]}"} "$@"
