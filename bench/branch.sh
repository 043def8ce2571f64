#!/usr/bin/env bash
# branch.sh: what a branch office gains from a box, measured on one machine (issue 10): the
# network of tests/integration/netlab.py (Debian's nginx in an origin namespace behind a WAN
# shaped with htb in both directions, a router namespace with dnsmasq, one box and N client
# namespaces on an unshaped LAN bridge). Phases (bench/branch.py runs them):
#   many-direct    N clients download the same object at once straight from the origin;
#   many-cold-box  the same through a box that does not hold it;
#   many-warm-box  the same again through the box, which now holds it;
#   coldmiss-*     one client through a cold box, against one curl (single stream) and one
#                  aria2c -x8 straight from the origin, on the same WAN (--runs times each).
# Reported per phase: bytes across the WAN (nginx's access log, headers included), the time
# until the last client finished, the per-client median, the box's CPU seconds; every
# download's size and SHA-256 checked afterwards. A summary table marks the targets of
# ../shared/QUALITY.md met or not. Results: bench/results/branch-<UTC time>.csv (a row per
# phase and run), .plot-many.csv and .plot-coldmiss.csv (medians), .log (stdout), .png (bench/
# branch.gp). Root only (network namespaces, tc). Run with --help for the options.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLIENTS=${BRANCH_CLIENTS:-10}
SIZE_MB=${BRANCH_SIZE_MB:-256}
WAN_RATE=${BRANCH_WAN_RATE:-200mbit}
STREAM_LIMIT=${BRANCH_STREAM_LIMIT:-}
RUNS=${BRANCH_RUNS:-1}
PHASES=${BRANCH_PHASES:-"direct cold warm coldmiss"}
PIECE=${BRANCH_PIECE:-1M}
CLIENT=${BRANCH_CLIENT:-"curl -sS -f -o {out} {url}"}
OUT_DIR=${BENCH_OUT:-$ROOT/bench/results}
export BUILD=${CACHEBOX_BUILD:-build}
KEEP=()

usage() {
	cat <<USAGE
Usage: bench/branch.sh [OPTIONS]

N clients download one object of random bytes at once straight from an origin behind a
shaped WAN, through a cold box and through a warm box; then one client's cold miss through
the box against curl and aria2c -x8 straight from the origin. Prints a line per phase and a
table of the targets (WAN bytes with a box <= 1.05x the object; a cold miss through the box
>= 0.9x the WAN link and >= 0.9x aria2c -x8 direct; a warm box at LAN speed), met or not.
With the defaults a run takes about $(( (CLIENTS + 6) * SIZE_MB * 8 / 190 / 60 + 1 )) minutes. Root only.

Options (environment variable in brackets):
  --clients N         clients on the LAN [BRANCH_CLIENTS] (default 10)
  --size-mb MB        the object's size [BRANCH_SIZE_MB] (default 256)
  --wan-rate RATE     the WAN link, each direction, in tc's words [BRANCH_WAN_RATE]
                      (default 200mbit)
  --stream-limit RATE nginx limit_rate per request, e.g. 40mbit, standing in for a per-stream
                      limit such as a long-RTT TCP window [BRANCH_STREAM_LIMIT] (default none).
                      nginx lets the first second's worth of each request pass unlimited, so
                      requests smaller than that (the box's piece fetches) escape it
  --runs N            cold-miss runs, alternated box / curl / aria2c [BRANCH_RUNS] (default 1)
  --phases "LIST"     any of: direct cold warm coldmiss [BRANCH_PHASES] (default all;
                      warm runs after cold)
  --piece-size SIZE   the box's piece_size [BRANCH_PIECE] (default 1M)
  --out DIR           results directory [BENCH_OUT] (default bench/results)
  --keep              keep the lab's work dir (configs, logs of nginx, dnsmasq and the box)
  -h, --help          this text

Environment only:
  BRANCH_CLIENT   the command a client runs to fetch through the box (and in many-direct:
                  curl always), a template run by sh -c in the client's namespace, with
                  {url} the URL to fetch (the box's connected-cache form
                  http://BOX:8003/PATH?cacheHostOrigin=ORIGIN), {origin_url} the origin's
                  URL, {box} the box's address:port, {out} the file to write, {dir} and
                  {name} the same split; each substituted shell-quoted.
                  Default: "curl -sS -f -o {out} {url}". For cachebox-fetch, e.g.:
                  BRANCH_CLIENT='cachebox-fetch -q --cache-host {box} -o {out} {origin_url}'
  CACHEBOX_BUILD  meson build dir (default build)
  TMPDIR          where the lab's work dir goes (the object, the box's shard, the downloads)
USAGE
}

while [ $# -gt 0 ]; do
	case $1 in
	--clients) CLIENTS=$2; shift 2 ;;
	--size-mb) SIZE_MB=$2; shift 2 ;;
	--wan-rate) WAN_RATE=$2; shift 2 ;;
	--stream-limit) STREAM_LIMIT=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--phases) PHASES=$2; shift 2 ;;
	--piece-size) PIECE=$2; shift 2 ;;
	--out) OUT_DIR=$2; shift 2 ;;
	--keep) KEEP=(--keep); shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "branch.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done

[ "$(id -u)" = 0 ] || { echo "branch.sh: needs root (network namespaces, tc)" >&2; exit 1; }
for b in "$ROOT/$BUILD/control/cachebox-control" "$ROOT/$BUILD/control/cacheboxctl"; do
	[ -x "$b" ] || { echo "branch.sh: $b missing: build first (make build)" >&2; exit 1; }
done
for p in nginx dnsmasq curl aria2c tc; do
	command -v "$p" >/dev/null || { echo "branch.sh: $p missing (make deps)" >&2; exit 1; }
done

mkdir -p "$OUT_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
STEM=$OUT_DIR/branch-$STAMP
cd "$ROOT"
rc=0
python3 bench/branch.py --clients "$CLIENTS" --size $((SIZE_MB * 1024 * 1024)) \
	--wan-rate "$WAN_RATE" --stream-limit "$STREAM_LIMIT" --runs "$RUNS" --phases "$PHASES" \
	--piece-size "$PIECE" --client "$CLIENT" --csv "$STEM.csv" "${KEEP[@]}" 2>&1 |
	tee "$STEM.log" || rc=$?
[ "${PIPESTATUS[0]}" = 0 ] || rc=${PIPESTATUS[0]}
if [ -f "$STEM.plot-many.csv" ] && command -v gnuplot >/dev/null; then
	wan=$(python3 -c "import sys; sys.path.insert(0, 'tests/integration'); import netlab; print(netlab.parse_rate(sys.argv[1]) / 1e6)" "$WAN_RATE")
	title="branch office: ${CLIENTS} clients, ${SIZE_MB} MiB, WAN ${WAN_RATE}, per-stream ${STREAM_LIMIT:-none}, client ${CLIENT%% *}"
	gnuplot -e "stem='$STEM'; png='$STEM.png'; wan=$wan; title='$title'" bench/branch.gp &&
		echo "plot: $STEM.png"
fi
echo "csv: $STEM.csv"
exit $rc
