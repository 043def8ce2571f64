#!/usr/bin/env bash
# Chooses the eviction policy by measurement: replays Zipf traces and real
# public traces through cachebox-evictsim (FIFO, LRU, SIEVE, S3-FIFO) and
# writes the byte and object hit ratios to bench/results/evict-<UTC>.csv.
#
# The real traces come from Debian packages (fetched with apt-get download
# into a temporary directory, never committed):
#   haproxy-huge  python3-haproxy-log-analysis: one hour of a real HAProxy
#                 HTTP log, 4,610 requests with response sizes
#   glimpse       golang-github-dgraph-io-ristretto-dev: the LIRS "glimpse"
#                 trace (block ids, no sizes)
# A trace that cannot be fetched is skipped with a message.
#
# Usage: bench/evict.sh [--quick]   (--quick: smaller Zipf traces)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SIM=$BUILD/bench/cachebox-evictsim
[ -x "$SIM" ] || ninja -C "$BUILD" bench/cachebox-evictsim
OBJECTS=100000 REQUESTS=2000000
if [ "${1:-}" = "--quick" ]; then OBJECTS=20000 REQUESTS=400000; fi
mkdir -p bench/results
CSV=bench/results/evict-$(date -u +%Y%m%dT%H%M%SZ).csv
echo "trace,policy,cache_percent,byte_hit,object_hit" >"$CSV"
TMP=$(mktemp -d /tmp/cachebox-evict.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

for a in 0.8 1.0; do
	"$SIM" --zipf "$a" --objects "$OBJECTS" --requests "$REQUESTS" --csv "$CSV"
done

fetch() { # package -> extracted into $TMP/x
	(cd "$TMP" && apt-get download "$1" >/dev/null 2>&1 && dpkg -x ./"$1"_*.deb x) ||
		{ echo "evict.sh: cannot fetch Debian package $1: skipping its trace" >&2; return 1; }
}
if fetch python3-haproxy-log-analysis; then
	"$SIM" --haproxy "$TMP"/x/usr/lib/python3/dist-packages/haproxy/tests/files/huge.log \
		--name haproxy-huge --csv "$CSV"
fi
if fetch golang-github-dgraph-io-ristretto-dev; then
	zcat "$TMP"/x/usr/share/gocode/src/github.com/dgraph-io/ristretto/sim/gli.lirs.gz \
		>"$TMP"/gli.txt
	"$SIM" --keys "$TMP"/gli.txt --min-size 1 --name glimpse --csv "$CSV"
fi
echo "csv: $CSV"
