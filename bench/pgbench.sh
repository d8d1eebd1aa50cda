#!/usr/bin/env bash
# pgbench throughput directly and through the PostgreSQL gateway, in the same
# run, against a throwaway PostgreSQL (internal/pgtest, fsync on):
# select-only (-S) at 1 and 16 clients in -M simple, extended and prepared,
# through the gateway in the standard and strict audit modes; and the default
# TPC-B-like script in strict mode. Two baselines run beside them: a bare
# relay (bytes copied, nothing parsed or recorded) and, when the pgbouncer
# binary is installed (the script installs Debian's pgbouncer when run as
# root), PgBouncer in session mode.
# Each row runs ROUNDS rounds of direct, relay, pgbouncer, standard, strict
# (interleaved, SECONDS_PER_RUN each) and prints the median
# of the per-round ratios gateway/direct with their range, and the gateway's
# CPU time per transaction. The gateway runs with GOGC=400 unless GOGC is set,
# as vigil serve does.
#
#   SECONDS_PER_RUN=5    duration of each pgbench run
#   ROUNDS=3             rounds per row
#   SCALE=10             pgbench -i scale
#   ROWS=REGEXP          only the rows whose label matches (S-simple-c1,
#                        S-extended-c16, tpcb-simple-c16, ...)
#   PROFILE_DIR=DIR      write a CPU profile of the gateway process per
#                        gateway run, and print the top of two rows (all
#                        rounds merged)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${SECONDS_PER_RUN:-5}"
rounds="${ROUNDS:-3}"
scale="${SCALE:-10}"
prof="${PROFILE_DIR:-}"
if [ -n "$prof" ]; then
	mkdir -p "$prof"
	prof="$(cd "$prof" && pwd)"
fi
# PgBouncer is one of the two baselines. Machines are new each session, so
# install it here when it is missing and we may (root with apt-get);
# otherwise its column shows "–". NO_PGBOUNCER=1 skips this.
if [ -z "${NO_PGBOUNCER:-}" ] && ! command -v pgbouncer >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "== installing Debian's pgbouncer for the PgBouncer baseline"
	apt-get install -y -q pgbouncer >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q pgbouncer >/dev/null 2>&1; } ||
		echo "== pgbouncer could not be installed: its column shows –"
fi
export VIGIL_BENCH=1 VIGIL_BENCH_SECONDS="$secs" VIGIL_BENCH_ROUNDS="$rounds" VIGIL_BENCH_SCALE="$scale" \
	VIGIL_BENCH_PROFILE="$prof" VIGIL_BENCH_ROWS="${ROWS:-}"
echo "== pgbench through the gateway: $(nproc) cores, ${rounds} rounds of ${secs}s per target, scale $scale"
echo "== load before: $(uptime)"
go test ./internal/gateway/pgwire -run '^TestPgbenchRatios$' -count=1 -v -timeout 60m |
	grep -v '^=== RUN'
echo "== load after: $(uptime)"
if [ -n "$prof" ]; then
	for p in standard-S-simple-c1 standard-S-extended-c16 strict-S-extended-c16; do
		set -- "$prof/$p"-r*.pprof
		[ -e "$1" ] || continue
		echo "== CPU profile: $p, all rounds (top 30, cumulative)"
		go tool pprof -top -cum -nodecount=30 "$@" 2>/dev/null || true
	done
fi
