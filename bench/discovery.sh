#!/usr/bin/env bash
# discovery.sh: throughput and latency of the discovery responder, cachebox-dataplane, on each
# backend, judged as /work/shared/QUALITY.md's performance method asks: responder pinned to one
# core (SERVER_CPU), load generator to another (CLIENT_CPU), the responder's CPU time
# (utime+stime of its process, all threads, from /proc/<pid>/stat) measured around each run, and
# the figure is replies per server core-second. Cases:
#   socket-lo    socket backend on loopback, QUERYs from bench/dp_load (kernel sendmmsg/recvmmsg)
#                from 16 sockets, each its own source address and port (the rate limits set high);
#   socket-veth  the same across a veth pair between two network namespaces (root);
#   memif        DPDK backend on net_memif, QUERYs from bench/dp_memif_gen (a DPDK generator on
#                the other end of the memif) (DPDK build);
#   af_xdp, af_packet  DPDK backend on net_af_xdp / net_af_packet on the veth end in namespace
#                A (no kernel address: it answers ARP itself), QUERYs from dp_load in B (root,
#                DPDK build).
# The index is real: cachebox-control imports one object and every QUERY asks for it (have 2).
# Each case runs --runs loaded runs of --secs (a window of QUERYs outstanding) and one idle run
# (one QUERY at a time) for the query->offer latency; p50/p99 come from the generator, which
# stamps each QUERY's txid with its send time. Results: bench/results/discovery-<UTC timestamp>
# .csv (a row per run), .plot.csv (medians per case), .log, .png (bench/discovery.gp, when
# gnuplot is installed). Ratios are
# printed against the socket backend (memif vs socket-lo, af_xdp/af_packet vs socket-veth) with
# the targets (memif >= 10x, af_xdp on veth >= 2x): met or not. A case that cannot run is
# reported as skipped with the reason. Run with --help for the options.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$ROOT/bench

RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECS:-5}
CASES=${BENCH_CASES:-"socket-lo socket-veth memif af_xdp af_packet"}
OUT_DIR=${BENCH_OUT:-$BENCH_DIR/results}
CACHEBOX_BUILD=${CACHEBOX_BUILD:-build}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
LO_WINDOW=${BENCH_LO_WINDOW:-64}
VETH_WINDOW=${BENCH_VETH_WINDOW:-64}
MEMIF_WINDOW=${BENCH_MEMIF_WINDOW:-128}
KEEP=0
EAL="--no-huge -m 128 --no-shconf --no-telemetry --no-pci --log-level=*:error"
read -r -a EAL_ARGS <<<"$EAL" # unglobbed words, for command lines
TAG=dbench$$

usage() {
	cat <<EOF
Usage: bench/discovery.sh [OPTIONS]

Benchmarks cachebox-dataplane's backends: replies per server core-second (responder pinned to
CPU $SERVER_CPU, generator to CPU $CLIENT_CPU) and p50/p99 query->offer latency under load and
idle, for the cases: socket-lo, socket-veth (root), memif (DPDK build), af_xdp and af_packet
(root, DPDK build). Prints a line per run, medians per case, the ratios against the socket
backend and whether the targets are met (memif >= 10x socket-lo, af_xdp >= 2x socket-veth).
One full run takes about $(( (RUNS * SECS + 8) * 5 / 60 + 1 )) minutes.

Options (environment variable in brackets):
  --runs N        loaded runs per case [BENCH_RUNS] (default 3)
  --secs S        seconds per loaded run [BENCH_SECS] (default 5)
  --cases "LIST"  cases to run [BENCH_CASES] (default "socket-lo socket-veth memif af_xdp
                  af_packet")
  --out DIR       results directory [BENCH_OUT] (default bench/results)
  --keep          keep the temp dir (configs, logs) and print its path
  -h, --help      this text

Environment only:
  CACHEBOX_BUILD  meson build dir (default build): dataplane/cachebox-dataplane,
                  control/cachebox-control, control/cacheboxctl, bench/dp_load,
                  bench/dp_memif_gen (built only when DPDK is found)
  SERVER_CPU, CLIENT_CPU  cores for the responder and the generator (default 0 and 1)
  BENCH_LO_WINDOW, BENCH_VETH_WINDOW, BENCH_MEMIF_WINDOW  QUERYs outstanding in loaded runs
                  (default 64, 64, 128)
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--secs) SECS=$2; shift 2 ;;
	--cases) CASES=$2; shift 2 ;;
	--out) OUT_DIR=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "discovery.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done

B=$ROOT/$CACHEBOX_BUILD
DATAPLANE=$B/dataplane/cachebox-dataplane
LOAD=$B/bench/dp_load
MEMIF_GEN=$B/bench/dp_memif_gen
for f in "$DATAPLANE" "$LOAD" "$B/control/cachebox-control" "$B/control/cacheboxctl"; do
	[ -x "$f" ] || { echo "discovery.sh: $f missing: build first (meson setup $CACHEBOX_BUILD && ninja -C $CACHEBOX_BUILD)" >&2; exit 1; }
done

mkdir -p "$OUT_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
CSV=$OUT_DIR/discovery-$STAMP.csv
LOG=$OUT_DIR/discovery-$STAMP.log
PNG=$OUT_DIR/discovery-$STAMP.png
PLOT=$OUT_DIR/discovery-$STAMP.plot.csv
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cbx-discbench.XXXXXX")
NS_A=cbA$TAG NS_B=cbB$TAG VA=va$$ VB=vb$$
PIDS=()
NETNS=0
declare -A SKIP=()

log() { echo "$*" | tee -a "$LOG"; }

cleanup() {
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ "$NETNS" = 1 ]; then
		ip netns del "$NS_A" 2>/dev/null || true
		ip netns del "$NS_B" 2>/dev/null || true
	fi
	rm -f "/tmp/cbxm$$.sock"
	if [ "$KEEP" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# core_ticks CPU: busy ticks of that core (user, nice, system, irq, softirq, steal) from /proc/stat.
core_ticks() { awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
HZ=$(getconf CLK_TCK)
# busy_ns: the responder's time on bursts that held frames (dpdk; lane field busy_ns of
# discovery.shm, common/cb_shm.h: lanes from byte 256, 256 bytes each, busy_ns at 200).
busy_ns() {
	python3 -c 'import struct, sys
raw = open(sys.argv[1], "rb").read()
print(sum(struct.unpack_from("<Q", raw, 256 + 256 * i + 200)[0] for i in range(16)))' "$TMP/var/discovery.shm"
}

# ---- the index: one imported object, asked for by every QUERY --------------------------------
start_index() {
	cat >"$TMP/cachebox.conf" <<EOF
[appliance]
state_dir = $TMP/var
log_level = warn
[server]
listen = 127.0.0.1:18013
workers = 1
[storage]
shard = $TMP/shard0
[control]
socket = $TMP/var/control.sock
metrics_listen = 127.0.0.1:19013
[discovery]
enabled = false
[origin bench.local]
upstream = http://127.0.0.1:9
EOF
	"$B/control/cachebox-control" --config "$TMP/cachebox.conf" >"$TMP/control.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do [ -S "$TMP/var/control.sock" ] && break; sleep 0.1; done
	head -c $((4 << 20)) /dev/urandom >"$TMP/d.bin"
	"$B/control/cacheboxctl" --config "$TMP/cachebox.conf" import "$TMP/d.bin" http://bench.local/d.bin >/dev/null
	ID=$("$B/control/cacheboxctl" --config "$TMP/cachebox.conf" --json list |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	log "index: bench.local/d.bin imported, content id $ID"
}

# dp_conf NAME LINES...: the responder's config (the index's, [discovery] replaced).
dp_conf() {
	local name=$1
	shift
	sed -e '/^\[discovery\]/,$d' -e 's/^log_level = .*/log_level = info/' "$TMP/cachebox.conf" >"$TMP/dp-$name.conf"
	{
		echo "[discovery]"
		echo "enabled = true"
		echo "allowed_sources = any"
		echo "rate_per_source = 1000000"
		echo "rate_global = 100000000"
		printf '%s\n' "$@"
	} >>"$TMP/dp-$name.conf"
}

# ---- the veth pair: A (responder) and B (generator, 16 source addresses) ----------------------
netns_setup() {
	[ "$NETNS" = 1 ] && return 0
	ip netns add "$NS_A" && ip netns add "$NS_B" || return 1
	NETNS=1
	ip link add "$VA" netns "$NS_A" type veth peer name "$VB" netns "$NS_B" || return 1
	for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
	ip -n "$NS_A" link set "$VA" up
	ip -n "$NS_B" link set "$VB" up
	ip -n "$NS_B" addr add 10.77.0.2/24 dev "$VB"
	for i in $(seq 101 116); do ip -n "$NS_B" addr add "10.77.0.$i/24" dev "$VB"; done
	ip netns exec "$NS_B" ethtool -K "$VB" tx off >/dev/null
}

a_kernel_ip() { # on|off: the socket backend needs A's address, the DPDK ones must not have it
	ip -n "$NS_A" addr flush dev "$VA"
	[ "$1" = on ] && ip -n "$NS_A" addr add 10.77.0.1/24 dev "$VA"
	ip -n "$NS_B" neigh flush dev "$VB"
}

# dpdk_backend: true when the dataplane has a DPDK backend (tried with backend = dpdk, no port).
dpdk_backend() {
	dp_conf probe "backend = dpdk" "address = 10.99.0.1/24" "dpdk_args = --file-prefix=$TAG-probe $EAL"
	"$DATAPLANE" --config "$TMP/dp-probe.conf" >"$TMP/dp-probe.log" 2>&1 || true
	! grep -q "this build has no DPDK" "$TMP/dp-probe.log"
}

# why_skip CASE: empty when the case can run here, else the reason.
why_skip() {
	local need_root=0 need_dpdk=0
	case $1 in
	socket-veth) need_root=1 ;;
	memif) need_dpdk=1 ;;
	af_xdp | af_packet) need_root=1 need_dpdk=1 ;;
	esac
	if [ $need_dpdk = 1 ] && ! dpdk_backend; then echo "no DPDK backend in this build"; return; fi
	if [ "$1" = memif ] && [ ! -x "$MEMIF_GEN" ]; then echo "no DPDK generator ($MEMIF_GEN not built)"; return; fi
	if [ $need_root = 1 ] && [ "$(id -u)" != 0 ]; then echo "needs root (network namespaces, veth)"; return; fi
	if [ $need_root = 1 ] && [ "$NETNS" != 1 ]; then echo "no netns/veth here: $(head -c 200 "$TMP/netns.err")"; return; fi
}

# ---- one case ------------------------------------------------------------------------------
# responder_start NAME NS: the responder on SERVER_CPU (in namespace NS when given); sets DP_PID.
responder_start() {
	local name=$1 ns=$2 cmd=()
	[ -n "$ns" ] && cmd=(ip netns exec "$ns")
	LIBXDP_SKIP_DISPATCHER=1 taskset -c "$SERVER_CPU" "${cmd[@]}" "$DATAPLANE" \
		--config "$TMP/dp-$name.conf" >"$TMP/dp-$name.log" 2>&1 &
	DP_PID=$!
	PIDS+=("$DP_PID")
	for _ in $(seq 150); do
		grep -qs "answering" "$TMP/dp-$name.log" && return 0
		kill -0 "$DP_PID" 2>/dev/null || break
		sleep 0.1
	done
	START_ERR="responder $name did not start: $(tail -3 "$TMP/dp-$name.log")"
	responder_stop
	return 1
}

responder_stop() {
	kill -TERM "$DP_PID" 2>/dev/null || true
	wait "$DP_PID" 2>/dev/null || true
}

# field LINE KEY: KEY=value from a generator's output line.
field() { sed -n "s/.* \?$2=\([^ ]*\).*/\1/p" <<<"$1"; }

# measure CASE RUN MODE GENERATOR-COMMAND...: one run, one CSV row.
measure() {
	local c=$1 run=$2 mode=$3 t0 t1 k0 k1 b0 b1 out cpu busy rpb other rps rpc flag=""
	shift 3
	t0=$(ticks "$DP_PID")
	k0=$(core_ticks "$SERVER_CPU")
	b0=$(busy_ns)
	out=$("$@" 2>>"$TMP/gen.err") || { log "$c run $run: generator failed: $(tail -2 "$TMP/gen.err")"; return 1; }
	t1=$(ticks "$DP_PID")
	k1=$(core_ticks "$SERVER_CPU")
	b1=$(busy_ns)
	cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" 'BEGIN { printf "%.3f", (b - a) / hz }')
	# the core's busy time beyond the responder's: other processes (the VM is shared) or
	# softirqs run there; more than 5 % of the run and the row is flagged
	other=$(awk -v a="$k0" -v b="$k1" -v hz="$HZ" -v c="$cpu" 'BEGIN { o = (b - a) / hz - c; printf "%.3f", (o > 0) ? o : 0 }')
	awk -v o="$other" -v s="$(field "$out" secs)" 'BEGIN { exit !(o > 0.05 * s) }' && flag="  CONTENDED: ${other}s of others on CPU $SERVER_CPU"
	rps=$(field "$out" rate)
	rpc=$(awk -v r="$(field "$out" replies)" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0) ? r / c : 0 }')
	# the responder's own cost: a polling backend's busy time, else its CPU time
	busy=$(awk -v a="$b0" -v b="$b1" -v c="$cpu" 'BEGIN { printf "%.3f", (b > a) ? (b - a) / 1e9 : c }')
	rpb=$(awk -v r="$(field "$out" replies)" -v c="$busy" 'BEGIN { printf "%.0f", (c > 0) ? r / c : 0 }')
	echo "$c,$run,$mode,$(field "$out" secs),$(field "$out" sent),$(field "$out" replies),$(field "$out" lost),$cpu,$(field "$out" cpu),$rps,$rpc,$(field "$out" p50_us),$(field "$out" p99_us),$other,$busy,$rpb" >>"$CSV"
	log "$(printf '%-11s %-4s %-5s replies/s %9s  server CPU %6ss  replies/core-s %9s  busy %6ss  replies/busy-s %9s  gen CPU %6ss  p50 %8sus p99 %8sus lost %s%s' \
		"$c" "$run" "$mode" "$rps" "$cpu" "$rpc" "$busy" "$rpb" "$(field "$out" cpu)" "$(field "$out" p50_us)" "$(field "$out" p99_us)" "$(field "$out" lost)" "$flag")"
}

# run_case CASE: the responder up, RUNS loaded runs and one idle run, the responder down.
run_case() {
	local c=$1 ns="" gen=() idle=()
	local kgen=(taskset -c "$CLIENT_CPU" ip netns exec "$NS_B" "$LOAD" --dst 10.77.0.1:8004
		--src 10.77.0.101 --nsrc 16 --socks 16 --id "$ID")
	case $c in
	socket-lo)
		dp_conf "$c" "backend = socket" "port = 18004"
		gen=(taskset -c "$CLIENT_CPU" "$LOAD" --dst 127.0.0.1:18004 --src 127.1.0.1 --nsrc 64
			--socks 16 --id "$ID")
		idle=("${gen[@]}" --socks 1 --window 1 --secs 2)
		gen+=(--window "$LO_WINDOW" --secs "$SECS")
		;;
	socket-veth)
		a_kernel_ip on
		ns=$NS_A
		dp_conf "$c" "backend = socket" "port = 8004"
		gen=("${kgen[@]}" --window "$VETH_WINDOW" --secs "$SECS")
		idle=("${kgen[@]}" --socks 1 --window 1 --secs 2)
		;;
	af_xdp | af_packet)
		a_kernel_ip off
		ns=$NS_A
		local vdev="net_af_packet0,iface=$VA"
		[ "$c" = af_xdp ] && vdev="net_af_xdp0,iface=$VA,start_queue=0,queue_count=1"
		dp_conf "$c" "backend = dpdk" "port = 8004" "address = 10.77.0.1/24" \
			"dpdk_args = -l $SERVER_CPU --file-prefix=dp$$ $EAL --vdev=$vdev"
		gen=("${kgen[@]}" --window "$VETH_WINDOW" --secs "$SECS")
		idle=("${kgen[@]}" --socks 1 --window 1 --secs 2)
		;;
	memif)
		local sock=/tmp/cbxm$$.sock mgen # short: a config line holds 198 characters
		dp_conf "$c" "backend = dpdk" "port = 8004" "address = 10.88.0.1/16" \
			"dpdk_args = -l $SERVER_CPU --file-prefix=dp$$ $EAL --vdev=net_memif0,role=server,socket=$sock,socket-abstract=no"
		mgen=(taskset -c "$CLIENT_CPU" "$MEMIF_GEN" -l "$CLIENT_CPU" --file-prefix="gen$$" "${EAL_ARGS[@]}"
			"--vdev=net_memif0,role=client,socket=$sock,socket-abstract=no" --
			--dst 10.88.0.1 --src 10.88.1.1 --nsrc 64 --id "$ID")
		gen=("${mgen[@]}" --window "$MEMIF_WINDOW" --secs "$SECS")
		idle=("${mgen[@]}" --window 1 --secs 2)
		;;
	esac
	if ! responder_start "$c" "$ns"; then
		log "$c: FAILED: $START_ERR"
		SKIP[$c]="the responder did not start"
		return 0
	fi
	sleep 0.5
	for run in $(seq "$RUNS"); do measure "$c" "$run" load "${gen[@]}" || true; done
	measure "$c" 1 idle "${idle[@]}" || true
	responder_stop
}

median() { # median CASE MODE COLUMN: over the CSV's rows
	awk -F, -v c="$1" -v m="$2" -v k="$3" '$1 == c && $3 == m && $k != "" { print $k }' "$CSV" | sort -g |
		awk '{ v[n++] = $1 } END { if (n) print (n % 2) ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2 }'
}

# ---- main ----------------------------------------------------------------------------------
echo "case,run,mode,secs,sent,replies,lost,server_cpu_s,gen_cpu_s,replies_per_s,replies_per_core_s,p50_us,p99_us,other_on_core_s,server_busy_s,replies_per_busy_core_s" >"$CSV"
log "discovery.sh $STAMP: cases '$CASES', $RUNS x $SECS s, responder on CPU $SERVER_CPU, generator on CPU $CLIENT_CPU ($(nproc) CPUs, $(uname -r))"
start_index
if [ "$(id -u)" = 0 ] && grep -qE 'veth|af_' <<<"$CASES"; then
	netns_setup 2>"$TMP/netns.err" || true
fi
for c in $CASES; do
	reason=$(why_skip "$c")
	if [ -n "$reason" ]; then
		SKIP[$c]=$reason
		log "$c: skipped: $reason"
		continue
	fi
	run_case "$c"
done

log ""
log "medians (loaded runs; latency also idle, one QUERY at a time):"
declare -A RPC=() RPB=()
echo "case,replies_per_core_s,replies_per_s,load_p50_us,load_p99_us,idle_p50_us,idle_p99_us,replies_per_busy_core_s" >"$PLOT"
for c in $CASES; do
	if [ -n "${SKIP[$c]:-}" ]; then log "$(printf '  %-11s skipped: %s' "$c" "${SKIP[$c]}")"; continue; fi
	RPC[$c]=$(median "$c" load 11)
	RPB[$c]=$(median "$c" load 16)
	log "$(printf '  %-11s replies/core-s %9s  replies/busy-core-s %9s  replies/s %9s  server CPU %5ss/run  load p50/p99 %s/%s us  idle p50/p99 %s/%s us' \
		"$c" "${RPC[$c]}" "${RPB[$c]}" "$(median "$c" load 10)" "$(median "$c" load 8)" "$(median "$c" load 12)" \
		"$(median "$c" load 13)" "$(median "$c" idle 12)" "$(median "$c" idle 13)")"
	echo "$c,${RPC[$c]},$(median "$c" load 10),$(median "$c" load 12),$(median "$c" load 13),$(median "$c" idle 12),$(median "$c" idle 13),${RPB[$c]}" >>"$PLOT"
done
ratio() { # ratio CASE BASE TARGET [busy]: of replies per core-second, or per busy core-second
	local c=$1 base=$2 target=$3 a b
	if [ "${4:-}" = busy ]; then a=${RPB[$c]:-} b=${RPB[$base]:-}; else a=${RPC[$c]:-} b=${RPC[$base]:-}; fi
	if [ -z "$a" ] || [ -z "$b" ]; then
		log "  $c vs $base: not measured (${SKIP[$c]:-${SKIP[$base]:-not run}})"
		return
	fi
	log "$(awk -v a="$a" -v b="$b" -v t="$target" -v c="$c" -v s="$base" 'BEGIN {
		r = a / b; printf "  %-11s / %-11s = %5.2fx  (target %sx: %s)", c, s, r, t ? t : "-", t ? (r >= t ? "met" : "NOT met") : "no target" }')"
}
log ""
log "ratios of replies per server core-second:"
ratio memif socket-lo 10
ratio af_xdp socket-veth 2
ratio af_packet socket-veth 0
ratio socket-veth socket-lo 0
log ""
log "ratios of the responder's own cost, replies per busy core-second (dpdk: time on bursts"
log "that held frames, empty polls excluded; socket: its CPU time, as above):"
ratio memif socket-lo 10 busy
ratio af_xdp socket-veth 2 busy
ratio af_packet socket-veth 0 busy
log ""
log "results: $CSV"
if command -v gnuplot >/dev/null && [ "$(wc -l <"$PLOT")" -gt 1 ]; then
	gnuplot -e "csv='$PLOT'; png='$PNG'" "$BENCH_DIR/discovery.gp" 2>>"$LOG" && log "plot: $PNG"
fi
