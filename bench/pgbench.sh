#!/usr/bin/env bash
# pgbench throughput directly and through the PostgreSQL gateway, in the same
# run, against a throwaway PostgreSQL (internal/pgtest, fsync on):
# select-only (-S) at 1 and 16 clients in -M simple, extended and prepared,
# through the gateway in the standard and strict audit modes; and the default
# TPC-B-like script in strict mode. Prints tps and the ratios gateway/direct.
#
#   SECONDS_PER_RUN=10   duration of each pgbench run
#   SCALE=10             pgbench -i scale
#   PROFILE_DIR=DIR      write a CPU profile of the gateway process per
#                        gateway run, and print the top of two of them
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${SECONDS_PER_RUN:-10}"
scale="${SCALE:-10}"
prof="${PROFILE_DIR:-}"
if [ -n "$prof" ]; then
	mkdir -p "$prof"
	prof="$(cd "$prof" && pwd)"
	# the pprof files are owned by us, but pgtest's server may run as postgres
fi
export VIGIL_BENCH=1 VIGIL_BENCH_SECONDS="$secs" VIGIL_BENCH_SCALE="$scale" VIGIL_BENCH_PROFILE="$prof"
echo "== pgbench through the gateway: $(nproc) cores, ${secs}s per run, scale $scale"
go test ./internal/gateway/pgwire -run '^TestPgbenchRatios$' -count=1 -v -timeout 60m |
	grep -v '^=== RUN'
if [ -n "$prof" ]; then
	for p in standard-S-extended-c16 strict-S-extended-c16; do
		echo "== CPU profile: $p (top 25, cumulative)"
		go tool pprof -top -cum -nodecount=25 "$prof/$p.pprof" 2>/dev/null || true
	done
fi
