#!/usr/bin/env bash
# Cold-miss benchmark: one client downloads a large object through a cold
# cachebox (the box fills it from a local nginx origin while serving it)
# against downloading it straight from that origin. Runs alternate
# direct / through-the-box; the object is evicted before every box run so
# each one is a real miss. Prints per-run throughput, medians and the ratio
# (target: box >= 0.9x direct), and writes bench/results/coldmiss-<time>.csv.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SIZE_MB=${SIZE_MB:-1024}
BUILD=${CACHEBOX_BUILD:-build}
OUT=${BENCH_OUT:-bench/results}
ORIGIN_PORT=${ORIGIN_PORT:-18081}
BOX_PORT=${BOX_PORT:-18004}

usage() {
	cat <<USAGE
usage: bench/coldmiss.sh [--runs N] [--size-mb MB]

One client (curl) downloads a ${SIZE_MB} MiB object straight from a local
nginx origin, then through a cold cachebox filling from that origin;
alternated, --runs times each. Reports MB/s per run, medians and the
box/direct ratio. Environment: CACHEBOX_BUILD (default build), BENCH_OUT
(default bench/results), ORIGIN_PORT (18081), BOX_PORT (18004).
USAGE
}

while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--size-mb) SIZE_MB=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "coldmiss.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
done

for b in "$BUILD/control/cachebox-control" "$BUILD/control/cacheboxctl"; do
	[ -x "$b" ] || { echo "coldmiss.sh: $b missing: run make build first" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/cachebox-coldmiss.XXXXXX)
chmod 755 "$tmp"
nginx_pid="" box_pid=""
cleanup() {
	[ -n "${KEEP:-}" ] && cp "$tmp/box.log" /tmp/coldmiss-box.log
	[ -n "$box_pid" ] && kill "$box_pid" 2>/dev/null && wait "$box_pid" 2>/dev/null
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/www" "$OUT"
echo "coldmiss.sh: writing a ${SIZE_MB} MiB object"
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$tmp/www/big.bin"
want=$(sha256sum "$tmp/www/big.bin" | cut -c1-64)

cat >"$tmp/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  server { listen 127.0.0.1:$ORIGIN_PORT; root $tmp/www; }
}
NGINX
nginx -c "$tmp/nginx.conf" -p "$tmp" &
nginx_pid=$!

cat >"$tmp/box.conf" <<CONF
[appliance]
state_dir = $tmp/var
[server]
listen = 127.0.0.1:$BOX_PORT
[storage]
shard = $tmp/shard
piece_size = 1M
[discovery]
enabled = false
[control]
socket = $tmp/var/control.sock
metrics_listen = 127.0.0.1:$((BOX_PORT + 1))
[origin coldmiss.test]
upstream = http://127.0.0.1:$ORIGIN_PORT
CONF
"$BUILD/control/cachebox-control" --config "$tmp/box.conf" >"$tmp/box.log" 2>&1 &
box_pid=$!
up=""
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$BOX_PORT/_cachebox/health" >/dev/null && { up=1; break; }
	sleep 0.1
done
[ -n "$up" ] || { echo "coldmiss.sh: cachebox did not start:" >&2; cat "$tmp/box.log" >&2; exit 1; }

direct_url="http://127.0.0.1:$ORIGIN_PORT/big.bin"
box_url="http://127.0.0.1:$BOX_PORT/big.bin?cacheHostOrigin=coldmiss.test"
csv="$OUT/coldmiss-$(date -u +%Y%m%dT%H%M%SZ).csv"
echo "run,path,bytes,seconds,MBps" >"$csv"

fetch() { # url -> "bytes seconds", checking the bytes
	local got
	got=$(curl -sS -o "$tmp/dl" -w '%{size_download} %{time_total}' "$1")
	[ "$(sha256sum "$tmp/dl" | cut -c1-64)" = "$want" ] || { echo "coldmiss.sh: wrong bytes from $1" >&2; exit 1; }
	rm -f "$tmp/dl"
	echo "$got"
}

direct=() box=()
for run in $(seq "$RUNS"); do
	read -r bytes secs <<<"$(fetch "$direct_url")"
	mbps=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1048576 }')
	direct+=("$mbps")
	echo "$run,direct,$bytes,$secs,$mbps" >>"$csv"
	printf 'run %d  direct       %8.1f MB/s\n' "$run" "$mbps"

	"$BUILD/control/cacheboxctl" --config "$tmp/box.conf" evict http://coldmiss.test/big.bin >/dev/null 2>&1 || true
	sync
	read -r bytes secs <<<"$(fetch "$box_url")"
	mbps=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1048576 }')
	box+=("$mbps")
	echo "$run,box-cold,$bytes,$secs,$mbps" >>"$csv"
	printf 'run %d  box (cold)   %8.1f MB/s\n' "$run" "$mbps"
done

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
md=$(median "${direct[@]}")
mb=$(median "${box[@]}")
ratio=$(awk -v a="$mb" -v b="$md" 'BEGIN { printf "%.2f", a / b }')
echo
echo "median: direct $md MB/s, through a cold box $mb MB/s, ratio $ratio (target >= 0.9)"
echo "csv: $csv"
