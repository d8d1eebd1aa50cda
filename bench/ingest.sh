#!/usr/bin/env bash
# Durable CloudTrail ingest: parse + normalize + de-duplicate + durable append
# into a fresh SQLite data directory, from one delivered log file of N records
# (the Stratus corpus records repeated with fresh eventIDs). Prints MB/s and
# events/s. Needs ../shared/corpora and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${N:-60000}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 - "$n" "$tmp/trail.json" <<'PY'
import json, glob, sys, uuid
n, out = int(sys.argv[1]), sys.argv[2]
recs = []
for f in sorted(glob.glob('../shared/corpora/cloudtrail/stratus/*.json')):
    recs += json.load(open(f))
rows = []
while len(rows) < n:
    for r in recs:
        r = dict(r); r['eventID'] = str(uuid.uuid4()); rows.append(r)
        if len(rows) == n: break
json.dump({'Records': rows}, open(out, 'w'))
PY
go build -o "$tmp/vigil" ./cmd/vigil
bytes=$(stat -c %s "$tmp/trail.json")
start=$(date +%s.%N)
"$tmp/vigil" ingest --source cloudtrail --data "$tmp/data" "$tmp/trail.json"
end=$(date +%s.%N)
python3 -c "s=$end-$start; print(f'{$n} records, {$bytes/1e6:.1f} MB in {s:.2f} s: {$bytes/1e6/s:.1f} MB/s, {$n/s:,.0f} events/s durable')"
