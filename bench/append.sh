#!/usr/bin/env bash
# Durable append throughput and latency of the audit log (SQLite and
# PostgreSQL, 1/16/256 concurrent appenders), and a full verify of a log of
# one million events. PostgreSQL runs from /usr/lib/postgresql/15/bin with
# fsync on (internal/pgtest). Figures go to docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${COUNT:-5}"
echo "== append, SQLite, 256 appenders (200k appends per run, $count runs)"
go test ./internal/auditlog -run '^$' -bench 'Append/sqlite/appenders=256' -benchtime 200000x -count "$count"
echo "== append, SQLite, 1 and 16 appenders (20k appends per run)"
go test ./internal/auditlog -run '^$' -bench 'Append/sqlite/appenders=(1|16)$' -benchtime 20000x -count 3
echo "== append, PostgreSQL (20k appends per run)"
go test ./internal/auditlog -run '^$' -bench 'Append/postgres' -benchtime 20000x -count 3
echo "== verify, 1M events"
go test ./internal/auditlog -run '^$' -bench 'Verify1M' -benchtime 1x -timeout 30m
