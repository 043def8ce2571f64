#!/usr/bin/env bash
# compare.sh: side-by-side benchmark of cachebox and Debian's nginx serving the same files, as
# /work/shared/QUALITY.md "Performance method" asks. It makes random test files, starts both
# servers on loopback pinned to one core (SERVER_CPU) and runs the load generators pinned to
# another (CLIENT_CPU): our cachebox-bench and a third-party one, wrk with bench/range.lua. For
# every range size and load generator it alternates cachebox and nginx runs (A/B/A/B ...) and
# measures the server's CPU time (utime+stime of every process in the server's process tree, from
# /proc/<pid>/stat, which already sums all threads) around each run. Reported per run and as
# medians with min-max: server CPU-seconds per GB (10^9 body bytes) and CPU-microseconds per
# request, the per-pair cachebox/nginx ratios, client req/s, Gb/s and p50/p99 latency. Results go
# to bench/results/<timestamp>.{csv,log,png} (git ignores them). With --tls both servers serve
# HTTPS with the same generated ECDSA P-256 certificate and the files are <timestamp>-tls.*.
# Run with --help for the options.
#
# The cachebox half is in start_cachebox/stop_cachebox below, kept apart so it can follow the
# server as it grows; everything else is server-agnostic.
# shellcheck disable=SC2317 # start_*/stop_* run as "start_$server", cleanup from a trap
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$ROOT/bench

# ---- settings (flags override the environment, which overrides these defaults) --------------
RUNS=${BENCH_RUNS:-5}
SECS=${BENCH_SECS:-10}
SIZES=${BENCH_SIZES:-"64K 1M 16M"}
CONNS=${BENCH_CONNS:-16}
CLIENTS=${BENCH_CLIENTS:-"bench wrk"}
ONLY=${BENCH_ONLY:-both}
NFILES=${BENCH_FILES:-4}
FILE_SIZE=${BENCH_FILE_SIZE:-256M}
WARMUP=${BENCH_WARMUP:-2}
OUT_DIR=${BENCH_OUT:-$BENCH_DIR/results}
KEEP=0
TLS=${BENCH_TLS:-0}
CACHEBOX_BUILD=${CACHEBOX_BUILD:-build}
NGINX=${NGINX:-/usr/sbin/nginx}
NGINX_NOPUSH=${NGINX_NOPUSH:-on}
WRK=${WRK:-/usr/bin/wrk}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
NGINX_ADDR=${NGINX_ADDR:-127.0.0.1:18080}
CACHEBOX_ADDR=${CACHEBOX_ADDR:-127.0.0.1:18003}
CACHEBOX_METRICS_ADDR=${CACHEBOX_METRICS_ADDR:-127.0.0.1:19003}
CACHEBOX_SERVER_CONF=${CACHEBOX_SERVER_CONF:-}
CACHEBOX_CAP=${CACHEBOX_CAP:-0}
BENCH_RATE=${BENCH_RATE:-}
CACHEBOX_CLIENT_CAP=${CACHEBOX_CLIENT_CAP:-0}
TMP_PARENT=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}

usage() {
	cat <<EOF
Usage: bench/compare.sh [OPTIONS]

Benchmarks cachebox against Debian's nginx on loopback, side by side, with the method of
QUALITY.md: same files, same load, server pinned to CPU $SERVER_CPU and load generator to CPU
$CLIENT_CPU (taskset), runs alternating cachebox/nginx, judged on server CPU per GB and per
request (utime+stime of all server threads from /proc/<pid>/stat, CLK_TCK resolution).

What it does:
  1. writes --files random files of --file-size into a temp dir (removed on exit);
  2. starts nginx (worker_processes 1, sendfile on, tcp_nopush \$NGINX_NOPUSH, open_file_cache,
     access_log off, keepalive_requests 2^31) serving them as /f1.bin ... on \$NGINX_ADDR;
  3. starts cachebox from \$CACHEBOX_BUILD with a generated config on \$CACHEBOX_ADDR, imports
     the files with 'cacheboxctl import FILE http://bench.local/fN.bin' and requests them as
     /_cachebox/content/<sha256 of "bench.local/fN.bin">;
  4. for each range size, each load generator and each of --runs pairs: one run against
     cachebox, one against nginx (after one unmeasured warm-up run per server and size);
  5. prints a line per run and a summary of medians [min-max] and cachebox/nginx ratios, writes
     bench/results/<UTC timestamp>.csv (one row per run), .plot.csv (medians and min-max, the
     plot's data), .log (every client output, the summary) and .png (bench/plot.gp, when
     gnuplot is installed).

Options (environment variable in brackets):
  --runs N          run pairs per size and load generator [BENCH_RUNS] (default 5)
  --secs S          seconds per run [BENCH_SECS] (default 10)
  --sizes "LIST"    range sizes, K/M/G = KiB/MiB/GiB [BENCH_SIZES] (default "64K 1M 16M")
  --conns N         connections per load generator [BENCH_CONNS] (default 16)
  --clients "LIST"  load generators: bench (cachebox-bench), wrk [BENCH_CLIENTS]
                    (default "bench wrk")
  --only SERVER     nginx or cachebox: run one side only, no ratios [BENCH_ONLY]
  --files N         number of test files [BENCH_FILES] (default 4)
  --file-size SIZE  size of each test file [BENCH_FILE_SIZE] (default 256M)
  --warmup S        seconds of the unmeasured warm-up run, 0 = none [BENCH_WARMUP] (default 2)
  --out DIR         results directory [BENCH_OUT] (default bench/results)
  --keep            keep the temp dir (files, configs, server logs) and print its path
  --tls             HTTPS instead of plain HTTP [BENCH_TLS=1]: makes a test CA and an ECDSA
                    P-256 server certificate for IP 127.0.0.1 (openssl, in the temp dir),
                    gives both servers that certificate (nginx: listen ... ssl, ssl_protocols
                    TLSv1.3, ssl_ecdh_curve X25519:prime256v1:secp384r1, no kTLS, the rest of
                    its config unchanged; cachebox: tls_cert/tls_key in [server]) and runs both
                    load generators over https:// (cachebox-bench --tls, wrk https://). Both
                    clients use OpenSSL's default TLS 1.3 preference, TLS_AES_256_GCM_SHA384,
                    and neither server overrides it; the negotiated protocol, cipher and group
                    of each server are checked and written to the log. Result files are
                    <timestamp>-tls.*
  -h, --help        this text

Environment only:
  CACHEBOX_BUILD    meson build dir with bench/cachebox-bench, control/cachebox-control and
                    control/cacheboxctl; relative to the repo root (default build)
  BENCH_BIN         load generator binary (default \$CACHEBOX_BUILD/bench/cachebox-bench)
  CACHEBOX_CAP, CACHEBOX_CLIENT_CAP  max_bandwidth_served and max_bandwidth_per_client of
                    cachebox (bits/s, e.g. 4G; default 0 = uncapped): what caps cost
  BENCH_RATE        cachebox-bench --rate: the client paces itself to this many bits/s,
                    so a capped server can be compared with an uncapped one at one load
  CACHEBOX_SERVER_CONF  extra lines for the [server] section of cachebox's generated config,
                    e.g. 'zerocopy_threshold = 1G' (SEND_ZC is copied anyway on loopback)
  NGINX, WRK        binaries (default /usr/sbin/nginx, /usr/bin/wrk)
  NGINX_NOPUSH      nginx tcp_nopush on|off (default on; seen on loopback: with 'on', wrk's
                    64K p99 is ~40 ms, a delayed-ACK-sized stall, and ~1 ms with 'off')
  SERVER_CPU, CLIENT_CPU   cores for the servers and the load generator (default 0 and 1)
  NGINX_ADDR, CACHEBOX_ADDR, CACHEBOX_METRICS_ADDR   loopback listen addresses
                    (default 127.0.0.1:18080, 127.0.0.1:18003, 127.0.0.1:19003)
  BENCH_TMPDIR      where the temp dir goes (default \$TMPDIR or /tmp); needs
                    --files x --file-size free space, twice that with cachebox (its own copy)

Examples:
  bench/compare.sh                                   # full run: 5 pairs x 10 s x 3 sizes x 2
                                                     # clients, about 11 minutes
  bench/compare.sh --runs 1 --secs 2                 # smoke run, under a minute
  bench/compare.sh --only nginx --sizes 64K --clients bench --runs 3 --secs 5
  bench/compare.sh --tls --runs 3 --secs 6           # HTTPS

Needs: taskset, sha256sum, curl, nginx, wrk (when listed in --clients), openssl (with --tls),
gnuplot (optional, for the plot), two or more CPUs, and cachebox-bench built:
  meson setup build && ninja -C build bench/cachebox-bench
Root is not needed. Exit status: 0 when every run completed without client errors, 1 when a run
counted errors or a check failed (the results are still written), 2 on bad usage.
EOF
}

die() {
	echo "compare.sh: $*" >&2
	exit 1
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--runs) RUNS=${2:?}; shift 2 ;;
	--secs) SECS=${2:?}; shift 2 ;;
	--sizes) SIZES=${2:?}; shift 2 ;;
	--conns) CONNS=${2:?}; shift 2 ;;
	--clients) CLIENTS=${2:?}; shift 2 ;;
	--only) ONLY=${2:?}; shift 2 ;;
	--files) NFILES=${2:?}; shift 2 ;;
	--file-size) FILE_SIZE=${2:?}; shift 2 ;;
	--warmup) WARMUP=${2:?}; shift 2 ;;
	--out) OUT_DIR=${2:?}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--tls) TLS=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "compare.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done

# ---- validation of the settings ---------------------------------------------------------------
bad_usage() {
	echo "compare.sh: $*" >&2
	exit 2
}

# size_bytes 64K -> 65536 (K M G binary); empty output on a bad size
size_bytes() {
	local n=${1%[KkMmGg]} mul=1
	case $1 in
	*[Kk]) mul=1024 ;;
	*[Mm]) mul=$((1024 * 1024)) ;;
	*[Gg]) mul=$((1024 * 1024 * 1024)) ;;
	esac
	[[ $n =~ ^[1-9][0-9]{0,9}$ ]] && echo $((n * mul))
}

[[ $RUNS =~ ^[1-9][0-9]{0,2}$ ]] || bad_usage "--runs wants 1..999"
[[ $SECS =~ ^[1-9][0-9]{0,4}$ ]] || bad_usage "--secs wants whole seconds, 1..99999"
[[ $WARMUP =~ ^[0-9]{1,4}$ ]] || bad_usage "--warmup wants whole seconds"
[[ $CONNS =~ ^[1-9][0-9]{0,4}$ ]] || bad_usage "--conns wants 1..99999"
[[ $NFILES =~ ^[1-9][0-9]{0,2}$ ]] || bad_usage "--files wants 1..999"
[[ $ONLY == both || $ONLY == nginx || $ONLY == cachebox ]] ||
	bad_usage "--only wants nginx or cachebox"
[[ $NGINX_NOPUSH == on || $NGINX_NOPUSH == off ]] || bad_usage "NGINX_NOPUSH wants on or off"
[[ $TLS == 0 || $TLS == 1 ]] || bad_usage "BENCH_TLS wants 0 or 1"
SCHEME=http
((TLS)) && SCHEME=https
FILE_BYTES=$(size_bytes "$FILE_SIZE") || bad_usage "bad --file-size '$FILE_SIZE'"
for s in $SIZES; do
	b=$(size_bytes "$s") || bad_usage "bad range size '$s' in --sizes"
	((b <= FILE_BYTES)) || bad_usage "range $s is larger than --file-size $FILE_SIZE"
done
[[ -n ${SIZES// /} ]] || bad_usage "--sizes is empty"
for c in $CLIENTS; do
	[[ $c == bench || $c == wrk ]] || bad_usage "unknown load generator '$c' (bench, wrk)"
done
[[ -n ${CLIENTS// /} ]] || bad_usage "--clients is empty"
[[ $SERVER_CPU =~ ^[0-9]+$ && $CLIENT_CPU =~ ^[0-9]+$ && $SERVER_CPU != "$CLIENT_CPU" ]] ||
	bad_usage "SERVER_CPU and CLIENT_CPU must be two different CPU numbers"

case $CACHEBOX_BUILD in
/*) ;;
*) CACHEBOX_BUILD=$ROOT/$CACHEBOX_BUILD ;;
esac
BENCH_BIN=${BENCH_BIN:-$CACHEBOX_BUILD/bench/cachebox-bench}

SERVERS=()
[[ $ONLY != nginx ]] && SERVERS+=(cachebox)
[[ $ONLY != cachebox ]] && SERVERS+=(nginx)

# ---- tools ------------------------------------------------------------------------------------
for t in taskset sha256sum curl getconf; do
	command -v "$t" >/dev/null || die "$t is missing"
done
[[ -x $BENCH_BIN ]] || die "no $BENCH_BIN; build it: meson setup $CACHEBOX_BUILD && ninja -C \
$CACHEBOX_BUILD bench/cachebox-bench (or set CACHEBOX_BUILD / BENCH_BIN)"
[[ $ONLY == cachebox || -x $NGINX ]] || die "no nginx at $NGINX (apt-get install nginx-light)"
[[ " $CLIENTS " != *" wrk "* || -x $WRK ]] || die "no wrk at $WRK (apt-get install wrk)"
((TLS == 0)) || command -v openssl >/dev/null || die "openssl is missing (needed by --tls)"
NCPU=$(getconf _NPROCESSORS_ONLN)
((SERVER_CPU < NCPU && CLIENT_CPU < NCPU)) ||
	die "need CPUs $SERVER_CPU and $CLIENT_CPU, this machine has $NCPU"
CLK_TCK=$(getconf CLK_TCK)
HAVE_GNUPLOT=0
command -v gnuplot >/dev/null && HAVE_GNUPLOT=1

# ---- temp dir and cleanup ---------------------------------------------------------------------
WORK=$(mktemp -d "$TMP_PARENT/cachebox-bench.XXXXXX")
NGINX_PID=
CACHEBOX_PID=

# Prints ROOT and all its descendants, one pid per line (walks /proc once; depth-bounded).
tree_pids() {
	local root=$1 f line pid rest ppid depth
	local -A kids=()
	local -a level next

	[[ -d /proc/$root ]] || return 0
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		pid=${line%% *}
		rest=${line##*) }
		rest=${rest#* }
		ppid=${rest%% *}
		kids[$ppid]+=" $pid"
	done
	level=("$root")
	for ((depth = 0; depth < 8 && ${#level[@]} > 0; depth++)); do
		next=()
		for pid in "${level[@]}"; do
			echo "$pid"
			# shellcheck disable=SC2206
			[[ -n ${kids[$pid]:-} ]] && next+=(${kids[$pid]})
		done
		level=("${next[@]}")
	done
}

# Stops a server's whole process tree: SIGTERM, up to 5 s, then SIGKILL.
stop_tree() {
	local root=$1 pids i

	[[ -n $root && -d /proc/$root ]] || return 0
	pids=$(tree_pids "$root")
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$root" 2>/dev/null || break
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
	wait "$root" 2>/dev/null || true
}

cleanup() {
	local rc=$?

	trap - EXIT INT TERM
	stop_tree "$CACHEBOX_PID"
	stop_tree "$NGINX_PID"
	if ((KEEP)); then
		echo "compare.sh: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers ----------------------------------------------------------------------------------

# Sum of utime+stime (clock ticks) of the given pids; every thread of a process is included, and
# threads that already exited too (fs/proc/array.c sums the thread group).
cpu_ticks() {
	local pid line rest sum=0
	local -a f

	for pid in "$@"; do
		read -r line 2>/dev/null <"/proc/$pid/stat" || continue
		rest=${line##*) }
		read -r -a f <<<"$rest"
		# fields after "pid (comm) ": state=1st ... utime=12th, stime=13th
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

# Pins every thread of every process in the tree to SERVER_CPU; warns about any that is not.
pin_tree() {
	local pid bad=0 t

	for pid in $(tree_pids "$1"); do
		taskset -a -p -c "$SERVER_CPU" "$pid" >/dev/null 2>&1 || true
		for t in /proc/"$pid"/task/*/status; do
			[[ $(awk '/^Cpus_allowed_list/ {print $2}' "$t" 2>/dev/null) == \
				"$SERVER_CPU" ]] || bad=1
		done
	done
	((bad == 0)) ||
		echo "compare.sh: warning: some $2 threads are not pinned to CPU $SERVER_CPU" >&2
}

# Waits up to 10 s until GET PATH with 'Range: bytes=0-0' on ADDR answers 206.
wait_range_ok() {
	local addr=$1 path=$2 i code

	for ((i = 0; i < 100; i++)); do
		code=$(curl -s "${CURL_TLS[@]}" -o /dev/null -w '%{http_code}' -r 0-0 --max-time 1 \
			"$SCHEME://$addr$path" 2>/dev/null) || true
		[[ $code == 206 ]] && return 0
		sleep 0.1
	done
	echo "compare.sh: $SCHEME://$addr$path did not answer 206 to 'Range: bytes=0-0'" \
		"(last: $code)" >&2
	return 1
}

# Sets CHILD_MS to the CPU time (user+sys, ms) of this shell's reaped children, grandchildren
# included, from the 'times' builtin. Call it directly, never in $(...): a subshell starts with
# its own, empty, counters.
TIMES_FILE=$WORK/times
CHILD_MS=0
children_cpu_ms() {
	local line ms=0 part min sec

	times >"$TIMES_FILE"
	{
		read -r line
		read -r line
	} <"$TIMES_FILE"
	for part in $line; do
		min=${part%%m*}
		sec=${part#*m}
		sec=${sec%s}
		ms=$((ms + min * 60000 + 10#${sec%.*} * 1000 + 10#${sec#*.}))
	done
	CHILD_MS=$ms
}

# ---- test files -------------------------------------------------------------------------------
make_files() {
	local i

	mkdir -p "$WORK/www"
	echo "compare.sh: writing $NFILES x $FILE_SIZE random files in $WORK/www" >&2
	for ((i = 1; i <= NFILES; i++)); do
		head -c "$FILE_BYTES" /dev/urandom >"$WORK/www/f$i.bin"
	done
	# nginx workers run as nobody when started as root; mktemp made the dir 0700
	chmod 755 "$WORK" "$WORK/www"
	chmod 644 "$WORK"/www/*.bin
	cat "$WORK"/www/*.bin >/dev/null # into the page cache
}

# ---- TLS certificate (--tls) ------------------------------------------------------------------
# Both servers get the same ECDSA P-256 certificate for IP 127.0.0.1 (and DNS localhost), signed
# by a throw-away CA; the chain file is the leaf then the CA. curl checks it against the CA.
TLS_CERT=
TLS_KEY=
TLS_CA=
CURL_TLS=()

make_cert() {
	local d=$WORK/tls

	mkdir -p "$d"
	chmod 755 "$d"
	{
		openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/CN=cachebox bench CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" &&
			openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
				-keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=127.0.0.1" &&
			printf '%s\n' "basicConstraints=critical,CA:FALSE" \
				"keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
				"subjectAltName=IP:127.0.0.1,DNS:localhost" >"$d/server.ext" &&
			openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
				-CAcreateserial -days 2 -sha256 -extfile "$d/server.ext" \
				-out "$d/server.pem"
	} >"$d/openssl.log" 2>&1 || die "openssl could not make the test certificate: \
$(tail -5 "$d/openssl.log")"
	cat "$d/server.pem" "$d/ca.pem" >"$d/chain.pem"
	# nginx's master reads them as this user; workers never do
	chmod 644 "$d"/*.pem "$d"/*.key
	TLS_CERT=$d/chain.pem
	TLS_KEY=$d/server.key
	TLS_CA=$d/ca.pem
	CURL_TLS=(--cacert "$TLS_CA")
}

# tls_params ADDR: "protocol cipher group" that a default OpenSSL client negotiates with ADDR
# (the same preferences as cachebox-bench and wrk), after checking the certificate chain.
tls_params() {
	local out

	out=$(openssl s_client -connect "$1" -CAfile "$TLS_CA" -verify_return_error \
		-verify_ip 127.0.0.1 -brief </dev/null 2>&1) || {
		echo "compare.sh: TLS check of $1 failed: $(tail -3 <<<"$out")" >&2
		return 1
	}
	awk -F': ' '/^Protocol version/ { p = $2 } /^Ciphersuite/ { c = $2 }
		/^(Server|Peer) Temp Key/ { split($2, k, ","); g = k[1] }
		END { printf "%s %s %s\n", p, c, g }' <<<"$out"
}

# ---- nginx ------------------------------------------------------------------------------------
NGINX_PATHS=()

start_nginx() {
	local d=$WORK/nginx i listen=$NGINX_ADDR tls_conf=

	mkdir -p "$d/tmp" "$d/logs"
	chmod 755 "$d"
	if ((TLS)); then
		# Same certificate, protocol and groups as cachebox; no kTLS (cachebox encrypts in
		# user space too); keep-alive connections, so no session cache either.
		listen="$NGINX_ADDR ssl"
		tls_conf="ssl_certificate $TLS_CERT;
		ssl_certificate_key $TLS_KEY;
		ssl_protocols TLSv1.3;
		ssl_ecdh_curve X25519:prime256v1:secp384r1;"
	fi
	cat >"$d/nginx.conf" <<EOF
# Debian's nginx tuned fairly for large static ranges (QUALITY.md "Performance method").
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
worker_rlimit_nofile 65536;
events {
	worker_connections 16384;
}
http {
	access_log off;
	sendfile on;
	tcp_nopush $NGINX_NOPUSH;
	tcp_nodelay on;
	open_file_cache max=1000 inactive=300s;
	open_file_cache_valid 300s;
	open_file_cache_errors on;
	keepalive_requests 2147483647;
	keepalive_timeout 300s;
	default_type application/octet-stream;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	server {
		listen $listen;
		root $WORK/www;
		$tls_conf
	}
}
EOF
	"$NGINX" -q -t -c "$d/nginx.conf" -p "$d" 2>"$d/logs/config-test.log" ||
		die "nginx rejected its config: $(cat "$d/logs/config-test.log")"
	taskset -c "$SERVER_CPU" "$NGINX" -c "$d/nginx.conf" -p "$d" >"$d/logs/stdout.log" 2>&1 &
	NGINX_PID=$!
	NGINX_PATHS=()
	for ((i = 1; i <= NFILES; i++)); do
		NGINX_PATHS+=("/f$i.bin")
	done
	wait_range_ok "$NGINX_ADDR" "${NGINX_PATHS[0]}" ||
		die "nginx did not start: $(tail -n 5 "$d/logs/error.log" "$d/logs/stdout.log" 2>&1)"
	pin_tree "$NGINX_PID" nginx
}

stop_nginx() {
	stop_tree "$NGINX_PID"
	NGINX_PID=
}

# ==== cachebox side: adjust here as the server takes shape ======================================
#
# Contract assumed (DESIGN.md): 'cachebox-control --config FILE' is the entry point and starts
# cachebox-storage as its child; 'cacheboxctl --config FILE import FILE URL' stores a local file
# as the object for URL; GET /_cachebox/content/<id> serves it, where id = lower-case hex SHA-256
# of the cache key "host/path". start_cachebox must set CACHEBOX_PID (root of the server's
# process tree: every process under it is pinned and its CPU counted) and CACHEBOX_PATHS (one
# URL path per test file, in the order of $WORK/www/f1.bin ...).
CACHEBOX_HOST=bench.local
CACHEBOX_PATHS=()

start_cachebox() {
	local d=$WORK/cachebox i id key ctl=$CACHEBOX_BUILD/control/cacheboxctl
	local control=$CACHEBOX_BUILD/control/cachebox-control

	[[ -x $control && -x $ctl ]] ||
		die "no $control or $ctl: build cachebox in $CACHEBOX_BUILD (or use --only nginx)"
	mkdir -p "$d/var" "$d/cache"
	# Only the keys the benchmark depends on; the rest keep their defaults.
	cat >"$d/cachebox.conf" <<EOF
; generated by bench/compare.sh
[appliance]
state_dir = $d/var
log_level = warn

[server]
listen = $CACHEBOX_ADDR
workers = 1
${TLS_CERT:+tls_cert = $TLS_CERT}
${TLS_KEY:+tls_key = $TLS_KEY}
${CACHEBOX_SERVER_CONF:-}

[storage]
shard = $d/cache
piece_size = 1M
min_free_space = 0

[origin $CACHEBOX_HOST]
; never contacted: every object is imported before the runs
upstream = http://127.0.0.1:9

[limits]
; the load generator opens --conns connections from one address
max_clients = 100000
max_bandwidth_served = ${CACHEBOX_CAP:-0}
max_bandwidth_per_client = ${CACHEBOX_CLIENT_CAP:-0}

[discovery]
enabled = false

[control]
socket = $d/var/control.sock
metrics_listen = $CACHEBOX_METRICS_ADDR
EOF
	taskset -c "$SERVER_CPU" "$control" --config "$d/cachebox.conf" >"$d/control.log" 2>&1 &
	CACHEBOX_PID=$!
	for ((i = 0; i < 100; i++)); do
		curl -s "${CURL_TLS[@]}" -o /dev/null --max-time 1 \
			"$SCHEME://$CACHEBOX_ADDR/_cachebox/health" && break
		kill -0 "$CACHEBOX_PID" 2>/dev/null ||
			die "cachebox-control exited: $(tail -5 "$d/control.log")"
		sleep 0.1
	done
	((i < 100)) || die "cachebox did not answer /_cachebox/health on $CACHEBOX_ADDR in 10 s"

	CACHEBOX_PATHS=()
	for ((i = 1; i <= NFILES; i++)); do
		key="$CACHEBOX_HOST/f$i.bin"
		"$ctl" --config "$d/cachebox.conf" import "$WORK/www/f$i.bin" "http://$key" \
			>>"$d/import.log" 2>&1 ||
			die "cacheboxctl import failed: $(tail -5 "$d/import.log")"
		id=$(printf %s "$key" | sha256sum)
		CACHEBOX_PATHS+=("/_cachebox/content/${id%% *}")
	done
	wait_range_ok "$CACHEBOX_ADDR" "${CACHEBOX_PATHS[0]}" ||
		die "cachebox does not serve the imported objects: $(tail -5 "$d/control.log")"
	pin_tree "$CACHEBOX_PID" cachebox
}

stop_cachebox() {
	stop_tree "$CACHEBOX_PID"
	CACHEBOX_PID=
}
# ==== end of the cachebox side ==================================================================

server_addr() {
	if [[ $1 == cachebox ]]; then echo "$CACHEBOX_ADDR"; else echo "$NGINX_ADDR"; fi
}

server_root_pid() {
	if [[ $1 == cachebox ]]; then echo "$CACHEBOX_PID"; else echo "$NGINX_PID"; fi
}

server_paths() {
	if [[ $1 == cachebox ]]; then
		printf '%s\n' "${CACHEBOX_PATHS[@]}"
	else
		printf '%s\n' "${NGINX_PATHS[@]}"
	fi
}

# ---- one measured run -------------------------------------------------------------------------
# run_client SERVER CLIENT RANGE_BYTES SECS: runs the load generator pinned to CLIENT_CPU and
# prints "requests body_bytes secs req_s gbit_s p50_us p99_us errors rc"; its raw output goes
# to the log.
run_client() {
	local server=$1 client=$2 range=$3 secs=$4 addr out rc=0 line
	local -a paths args f

	addr=$(server_addr "$server")
	mapfile -t paths < <(server_paths "$server")
	if [[ $client == bench ]]; then
		args=(-a "$addr" -c "$CONNS" -d "$secs" -r "$range" --csv)
		((TLS)) && args+=(--tls)
		[[ -n $BENCH_RATE ]] && args+=(--rate "$BENCH_RATE")
		for p in "${paths[@]}"; do args+=(-u "$p"); done
		out=$(taskset -c "$CLIENT_CPU" "$BENCH_BIN" "${args[@]}" 2>&1) || rc=$?
		printf '## %s %s range=%s rc=%s\n%s\n' "$server" "$client" "$range" "$rc" \
			"$out" >>"$LOG"
		# range_bytes,conns,threads,secs,requests,body_bytes,req_per_s,gbit_per_s,p50_us,
		# p90_us,p99_us,max_us,mean_us,errors,reconnects,client_cpu_s
		line=$(grep -E '^[0-9]+,[0-9]+,[0-9]+,' <<<"$out" | tail -1) || true
		if [[ -z $line ]]; then
			echo "0 0 $secs 0 0 nan nan 1 $rc"
			return
		fi
		IFS=, read -r -a f <<<"$line"
		echo "${f[4]} ${f[5]} ${f[3]} ${f[6]} ${f[7]} ${f[8]} ${f[10]} ${f[13]} $rc"
	else
		args=(-t1 -c "$CONNS" -d "${secs}s" --timeout 10s -s "$BENCH_DIR/range.lua"
			"$SCHEME://$addr" -- "$range")
		for p in "${paths[@]}"; do args+=("$FILE_BYTES:$p"); done
		out=$(taskset -c "$CLIENT_CPU" "$WRK" "${args[@]}" 2>&1) || rc=$?
		printf '## %s %s range=%s rc=%s\n%s\n' "$server" "$client" "$range" "$rc" \
			"$out" >>"$LOG"
		# WRK_CSV,requests,bytes_read,duration_us,p50_us,p99_us,max_us,err_connect,err_read,
		# err_write,err_status,err_timeout
		line=$(grep '^WRK_CSV,' <<<"$out" | tail -1) || true
		if [[ -z $line ]]; then
			echo "0 0 $secs 0 0 nan nan 1 $rc"
			return
		fi
		IFS=, read -r -a f <<<"$line"
		# wrk counts heads and the partial bodies in flight at the end in bytes_read and
		# checks neither status (below 400) nor length: unless bytes_read is the ranges plus
		# plausible heads (under 2 KiB each) plus at most one partial response per
		# connection, every request counts as an error. Body bytes are requests x range.
		awk -v r="${f[1]}" -v b="${f[2]}" -v us="${f[3]}" -v rg="$range" -v p50="${f[4]}" \
			-v p99="${f[5]}" -v e="$((f[7] + f[8] + f[9] + f[10] + f[11]))" \
			-v rc="$rc" -v conns="$CONNS" '
		BEGIN {
			s = us / 1e6
			if (r > 0 && (b < r * rg || b > (r + conns) * (rg + 2048)))
				e += r
			# %.0f, not %d: mawk clamps %d to 2^31-1
			printf "%.0f %.0f %.3f %.1f %.3f %.1f %.1f %.0f %d\n", r, r * rg, s,
				(s > 0 ? r / s : 0), (s > 0 ? r * rg * 8 / s / 1e9 : 0), p50,
				p99, e, rc
		}'
	fi
}

# measure SERVER CLIENT SIZE RANGE_BYTES RUN: one run, one CSV row, one line on stdout.
measure() {
	local server=$1 client=$2 size=$3 range=$4 run=$5 root pids pids_after t0 t1 c0 c1 res
	local note=ok

	root=$(server_root_pid "$server")
	[[ -n $root && -d /proc/$root ]] ||
		die "$server is no longer running (crashed or interrupted)"
	pids=$(tree_pids "$root" | sort -n | tr '\n' ' ')
	children_cpu_ms
	c0=$CHILD_MS
	# shellcheck disable=SC2086
	t0=$(cpu_ticks $pids)
	res=$(run_client "$server" "$client" "$range" "$SECS")
	# shellcheck disable=SC2086
	t1=$(cpu_ticks $pids)
	children_cpu_ms
	c1=$CHILD_MS
	pids_after=$(tree_pids "$root" | sort -n | tr '\n' ' ')
	[[ $pids == "$pids_after" ]] || note="server-processes-changed"
	# shellcheck disable=SC2086
	set -- $res
	[[ $9 == 0 || $9 == 3 ]] || note="client-failed-rc-$9"
	awk -v OFS=, -v ts="$TS" -v size="$size" -v range="$range" -v client="$client" \
		-v server="$server" -v run="$run" -v req="$1" -v body="$2" -v secs="$3" \
		-v rps="$4" -v gbps="$5" -v p50="$6" -v p99="$7" -v err="$8" -v rc="$9" \
		-v ticks=$((t1 - t0)) -v hz="$CLK_TCK" -v cms=$((c1 - c0)) -v note="$note" '
	BEGIN {
		cpu = ticks / hz
		util = secs > 0 ? cpu / secs * 100 : 0
		cutil = secs > 0 ? cms / 1000 / secs * 100 : 0
		gb = body > 0 ? sprintf("%.4f", cpu / (body / 1e9)) : "nan"
		us = req > 0 ? sprintf("%.2f", cpu * 1e6 / req) : "nan"
		cpu = sprintf("%.2f", cpu)
		util = sprintf("%.1f", util)
		if (note == "server-processes-changed") {
			# a server process exited during the run: its CPU time is lost, so unknown
			cpu = util = gb = us = "nan"
		}
		print ts, size, range, client, server, run, secs, req, body, rps, gbps, p50, p99,
			err, cpu, util, gb, us, sprintf("%.1f", cutil), rc, note
	}' >>"$CSV"
	tail -1 "$CSV" | awk -F, '{
		printf "%-4s %-5s %-8s #%-2s %9.0f req/s %7.2f Gb/s  p50 %8.1f us  " \
			"p99 %9.1f us  server %6s cpu-s (%3.0f%%)  %7s cpu-s/GB  " \
			"%8s cpu-us/req  client %3.0f%%  errors %s%s\n", $2, $4, $5, $6, $10, $11,
			$12, $13, $15, $16, $17, $18, $19, $14, ($21 == "ok" ? "" : "  " $21)
	}'
}

warm_up() {
	local server=$1 range=$2

	((WARMUP > 0)) || return 0
	run_client "$server" bench "$range" "$WARMUP" >/dev/null
}

# ---- summary ----------------------------------------------------------------------------------
# summarize PLOTDATA CSV: reads the per-run CSV; prints the table and writes the plot data (one
# row per size and load generator: label, then median/min/max of cpu-s/GB, cpu-us/req, Gb/s and
# p99 ms for cachebox and for nginx, "NaN" where a side did not run).
summarize() {
	# QUALITY.md targets: cpu-s/GB <= 1.0x nginx plain, <= 0.6x over HTTPS
	awk -F, -v plotdata="$1" -v gbtarget="$( ((TLS)) && echo 0.6 || echo 1.0)" \
		-v over="$( ((TLS)) && echo " over https")" '
	function sortn(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) {
			t = a[i]
			for (j = i - 1; j >= 1 && a[j] > t; j--)
				a[j + 1] = a[j]
			a[j + 1] = t
		}
	}
	# sets MED, MIN, MAX over the values of vals[1..n] that are numbers; returns the count
	function stats(vals, n,   a, i, m) {
		m = 0
		for (i = 1; i <= n; i++)
			if (vals[i] != "nan" && vals[i] != "")
				a[++m] = vals[i] + 0
		if (!m) {
			MED = MIN = MAX = "NaN"
			return 0
		}
		sortn(a, m)
		MED = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
		MIN = a[1]
		MAX = a[m]
		return m
	}
	function collect(k, srv, metric,   i, n) {
		delete V
		n = 0
		for (i = 1; i <= nrun[k, srv]; i++)
			V[++n] = val[k, srv, i, metric]
		return n
	}
	function cell(fmt, k, srv, metric) {
		if (!stats(V, collect(k, srv, metric)))
			return sprintf("%-34s", "-")
		return sprintf("%-34s", sprintf(fmt " [" fmt "-" fmt "]", MED, MIN, MAX))
	}
	function row(label, fmt, k, metric) {
		printf "%-22s %s %s\n", label, cell(fmt, k, "cachebox", metric),
			cell(fmt, k, "nginx", metric)
	}
	function ratio_cell(k, metric, invert,   i, n, r, a, b) {
		delete V
		n = 0
		for (i = 1; i <= nrun[k, "cachebox"]; i++) {
			r = runno[k, "cachebox", i]
			if (!((k, "nginx", r) in idx))
				continue
			a = val[k, "cachebox", i, metric]
			b = val[k, "nginx", idx[k, "nginx", r], metric]
			if (a == "nan" || b == "nan" || a + 0 == 0 || b + 0 == 0)
				continue
			V[++n] = invert ? b / a : a / b
		}
		if (!stats(V, n))
			return "-"
		return sprintf("%.3f [%.3f-%.3f] (%d pairs)", MED, MIN, MAX, n)
	}
	function plotcols(k, metric, scale,   s, srv, out) {
		out = ""
		for (s = 1; s <= 2; s++) {
			srv = s == 1 ? "cachebox" : "nginx"
			stats(V, collect(k, srv, metric))
			if (MED == "NaN")
				out = out ",NaN,NaN,NaN"
			else
				out = out sprintf(",%g,%g,%g", MED * scale, MIN * scale,
					MAX * scale)
		}
		return out
	}
	NR == 1 {
		for (i = 1; i <= NF; i++)
			col[$i] = i
		next
	}
	$col["note"] != "ok" {
		noted++
	}
	$col["requests"] == 0 {
		failed++
		errs += $col["errors"]
		next
	}
	{
		k = $col["size"] " " $col["client"]
		if (!(k in seen)) {
			seen[k] = 1
			keys[++nk] = k
		}
		srv = $col["server"]
		n = ++nrun[k, srv]
		runno[k, srv, n] = $col["run"]
		idx[k, srv, $col["run"]] = n
		for (c in col)
			val[k, srv, n, c] = $col[c]
		# requests per server core-second
		cpu = $col["server_cpu_s"] + 0
		val[k, srv, n, "req_per_core_s"] = cpu > 0 ? $col["requests"] / cpu : "nan"
		errs += $col["errors"]
	}
	END {
		for (i = 1; i <= nk; i++) {
			k = keys[i]
			split(k, kk, " ")
			n = nrun[k, "nginx"] + 0
			if (nrun[k, "cachebox"] + 0 > n)
				n = nrun[k, "cachebox"] + 0
			printf "\n== range %s%s, load generator %s: median [min-max] over %d " \
				"run(s)\n", kk[1], over, kk[2], n
			printf "%-22s %-34s %-34s\n", "", "cachebox", "nginx"
			row("server cpu-s/GB", "%.4f", k, "cpu_s_per_gb")
			row("server cpu-us/req", "%.2f", k, "cpu_us_per_req")
			row("req/server core-s", "%.0f", k, "req_per_core_s")
			row("server cpu %", "%.0f", k, "server_util")
			row("client req/s", "%.0f", k, "req_s")
			row("client Gb/s", "%.2f", k, "gbit_s")
			row("client p50 us", "%.1f", k, "p50_us")
			row("client p99 us", "%.1f", k, "p99_us")
			row("client cpu %", "%.0f", k, "client_util")
			if (nrun[k, "cachebox"] && nrun[k, "nginx"]) {
				printf "cachebox/nginx per pair, median [min-max]:\n"
				printf "  cpu-s/GB          %s   (target <= %s at 1M-16M)\n",
					ratio_cell(k, "cpu_s_per_gb", 0), gbtarget
				printf "  cpu-us/req        %s\n",
					ratio_cell(k, "cpu_us_per_req", 0)
				printf "  req/core-s        %s   (target >= 1.5 at 64K)\n",
					ratio_cell(k, "cpu_us_per_req", 1)
			}
			line = kk[1] "-" kk[2] plotcols(k, "cpu_s_per_gb", 1)
			line = line plotcols(k, "cpu_us_per_req", 1) plotcols(k, "gbit_s", 1)
			print line plotcols(k, "p99_us", 0.001) > plotdata
		}
		if (noted)
			printf "\nWARNING: %d runs have a note in the CSV (a server process " \
				"exited, or the load generator failed): their CPU figures are " \
				"left out\n", noted
		if (failed)
			printf "\nWARNING: %d runs completed no request and are left out\n", failed
		if (errs)
			printf "\nWARNING: the load generators counted %.0f errors (see the log)\n",
				errs
	}' "$2"
}

# ---- main -------------------------------------------------------------------------------------
mkdir -p "$OUT_DIR"
TS=$(date -u +%Y%m%dT%H%M%SZ)
NAME=$TS
((TLS)) && NAME=$TS-tls
CSV=$OUT_DIR/$NAME.csv
LOG=$OUT_DIR/$NAME.log
PNG=$OUT_DIR/$NAME.png
PLOTDATA=$OUT_DIR/$NAME.plot.csv
echo "ts,size,range_bytes,client,server,run,secs,requests,body_bytes,req_s,gbit_s,p50_us,p99_us,\
errors,server_cpu_s,server_util,cpu_s_per_gb,cpu_us_per_req,client_util,client_rc,note" >"$CSV"
{
	echo "# compare.sh $TS: $SCHEME runs=$RUNS secs=$SECS sizes=$SIZES conns=$CONNS" \
		"clients=$CLIENTS"
	echo "# servers=${SERVERS[*]} files=${NFILES}x$FILE_SIZE server_cpu=$SERVER_CPU" \
		"client_cpu=$CLIENT_CPU nginx_tcp_nopush=$NGINX_NOPUSH"
	echo "# kernel $(uname -r); $(nproc) cpus; $("$NGINX" -v 2>&1 || true);" \
		"$("$WRK" -v 2>&1 | head -1 || true)"
} >"$LOG"

nsizes=$(wc -w <<<"$SIZES")
nclients=$(wc -w <<<"$CLIENTS")
nservers=${#SERVERS[@]}
echo "compare.sh: ${SERVERS[*]}; $RUNS run(s) x ${SECS}s x $nsizes size(s) x $nclients load" \
	"generator(s) = about $((nservers * nsizes * (RUNS * SECS * nclients + WARMUP))) s of" \
	"runs over $SCHEME;" \
	"results in $OUT_DIR/$NAME.*" >&2

make_files
((TLS)) && make_cert
for s in "${SERVERS[@]}"; do
	"start_$s"
done
if ((TLS)); then
	tls_seen=
	for s in "${SERVERS[@]}"; do
		p=$(tls_params "$(server_addr "$s")") || die "$s does not serve TLS properly"
		echo "# tls $s: $p" >>"$LOG"
		echo "compare.sh: $s TLS: $p" >&2
		[[ -z $tls_seen || $tls_seen == "$p" ]] ||
			echo "compare.sh: warning: the servers negotiate different TLS" \
				"parameters: $tls_seen vs $p" >&2
		tls_seen=$p
	done
fi

for size in $SIZES; do
	range=$(size_bytes "$size")
	for s in "${SERVERS[@]}"; do
		warm_up "$s" "$range"
	done
	for client in $CLIENTS; do
		for ((run = 1; run <= RUNS; run++)); do
			for s in "${SERVERS[@]}"; do
				measure "$s" "$client" "$size" "$range" "$run"
			done
		done
	done
done

for s in "${SERVERS[@]}"; do
	"stop_$s"
done

summarize "$PLOTDATA" "$CSV" | tee -a "$LOG"
status=0
awk -F, 'NR > 1 && ($14 != 0 || $21 != "ok") { bad = 1 } END { exit bad }' "$CSV" || status=1

if ((HAVE_GNUPLOT)); then
	if gnuplot -e "datafile='$PLOTDATA'; outfile='$PNG'; sides='$ONLY'; title='cachebox vs \
nginx, $SCHEME, $TS, $RUNS x ${SECS}s, $CONNS conns, server CPU $SERVER_CPU, client CPU $CLIENT_CPU'" \
		"$BENCH_DIR/plot.gp" 2>>"$LOG"; then
		echo "plot:    $PNG"
	else
		echo "compare.sh: gnuplot failed (see $LOG)" >&2
		status=1
	fi
else
	echo "compare.sh: gnuplot not installed, no plot" >&2
fi
echo "csv:     $CSV"
echo "log:     $LOG"
exit "$status"
