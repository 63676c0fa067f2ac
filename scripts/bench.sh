#!/usr/bin/env bash
# Polling cost against edgegw-sim running as its own process: CPU seconds of the gateway per 1,000 device
# polls, batched (one GET per device) and per-OID (one GET per point). Loopback only; bounded by -benchtime.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/ ./cmd/edgegw-sim
EDGEGW_SIM_BIN=$PWD/bin/edgegw-sim go test -run '^$' -bench 'BenchmarkPollSim' -benchtime "${BENCHTIME:-20000x}" -count "${COUNT:-3}" ./drivers/snmp/
