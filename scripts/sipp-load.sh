#!/usr/bin/env bash
# SIP load measurement: sipp (Debian sip-tester 3.6.1) places CALLS concurrent inbound calls
# to a release `tympan serve --sip-listen`, each playing G.711 u-law RTP from a pcap for
# HOLD_S seconds (AMD runs on every call), then BYE. Reports Tympan's CPU per concurrent
# call and RSS per call (sampled from /proc while all calls are up), sipp's CPU separately,
# RTP packets late/lost at Tympan (/metrics), and INVITE→200 setup latency p50/p99 (sipp's
# -trace_rtt response times).
#
#   scripts/sipp-load.sh [CALLS] [HOLD_S] [RATE]     # defaults: 200 30 100
#
# Needs: sipp (scripts/setup.sh), sox + python3 (to build the pcap), ../shared/data
# (LibriSpeech), root or CAP_NET_RAW (sipp's pcap playback), and the release binary
# (cargo build -p tympan --release; CARGO_TARGET_DIR is honoured). Run it at normal priority.
set -euo pipefail
CALLS=${1:-200}
HOLD_S=${2:-30}
RATE=${3:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TYMPAN_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tympan}
DATA=${SHARED_DATA:-$ROOT/../shared/data}
[ -d "$DATA" ] || DATA=$ROOT/../../shared/data  # from a worktree under /work/wt
[ -x "$BIN" ] || { echo "sipp-load: $BIN missing (cargo build -p tympan --release)" >&2; exit 1; }
command -v sipp >/dev/null || { echo "sipp-load: sipp missing (scripts/setup.sh)" >&2; exit 1; }
SRC=$DATA/librispeech-dev/1673/1673-143396-0007.flac
[ -f "$SRC" ] || { echo "sipp-load: $SRC missing" >&2; exit 1; }

WORK=$(mktemp -d /tmp/tympan-sipp-load.XXXXXX)
trap 'kill "${TPID:-}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# A pcap of HOLD_S - 2 seconds: the 7.1 s recording repeated (the BYE comes 2 s after it).
REPEAT=$(( (HOLD_S - 2 + 6) / 7 - 1 ))
[ "$REPEAT" -lt 0 ] && REPEAT=0
cp "$ROOT/scripts/sipp/uac_g711_load.xml" "$WORK/"
python3 "$ROOT/scripts/sipp/make_g711_pcap.py" "$SRC" "$WORK/g711u-speech.pcap" \
  --repeat "$REPEAT" --seconds "$((HOLD_S - 2))"

free_port() { python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_$1); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
SIP_PORT=${SIP_PORT:-$(free_port DGRAM)}
HTTP_PORT=${HTTP_PORT:-$(free_port STREAM)}
TOKEN=load-test-token-0123456789
cat >"$WORK/tympan.toml" <<EOF
listen = "127.0.0.1:$HTTP_PORT"
api_tokens = ["$TOKEN"]
max_concurrent_calls = $((CALLS + 100))
data_dir = "$WORK/data"
[sip]
listen = "127.0.0.1:$SIP_PORT"
rtp_port_min = 20000
rtp_port_max = $((20000 + 2 * CALLS + 200))
max_calls = $((CALLS + 100))
EOF
"$BIN" serve --config "$WORK/tympan.toml" >"$WORK/tympan.log" 2>&1 &
TPID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" >/dev/null 2>&1 && break
  sleep 0.1
done
RSS0=$(awk '/VmRSS/ {print $2}' /proc/$TPID/status)
echo "uptime before: $(uptime)"

cd "$WORK"
sipp "127.0.0.1:$SIP_PORT" -sf uac_g711_load.xml -s tympan -i 127.0.0.1 -mi 127.0.0.1 \
  -l "$CALLS" -m "$CALLS" -r "$RATE" -d "$((HOLD_S * 1000))" -cid_str 'sipp-%u-%p' \
  -nostdin -trace_stat -fd 1 -stf "$WORK/stats.csv" -trace_rtt -rtt_freq 1 \
  -trace_err -error_file "$WORK/errors.log" -timeout "$((HOLD_S + CALLS / RATE + 120))s" \
  >"$WORK/sipp.out" 2>&1 &
SPID=$!

# Sample every second: active calls, Tympan utime+stime (ticks), RSS (kB), sipp ticks.
TCK=$(getconf CLK_TCK)
: >"$WORK/samples"
while kill -0 "$SPID" 2>/dev/null; do
  act=$(curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | awk '$1=="tympan_active_calls" {print $2}')
  tt=$(awk '{print $14+$15}' /proc/$TPID/stat)
  st=$(awk '{print $14+$15}' /proc/$SPID/stat 2>/dev/null || echo 0)
  rss=$(awk '/VmRSS/ {print $2}' /proc/$TPID/status)
  echo "$(date +%s.%N) ${act:-0} $tt $rss $st" >>"$WORK/samples"
  sleep 1
done
set +e
wait "$SPID"
SIPP_RC=$?
set -e
echo "uptime after: $(uptime)"
curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" >"$WORK/metrics.txt"

python3 - "$WORK" "$CALLS" "$TCK" "$RSS0" "$SIPP_RC" <<'EOF'
import csv, glob, sys
work, calls, tck, rss0, rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = [l.split() for l in open(f"{work}/samples") if l.strip()]
rows = [(float(t), int(a), int(tt), int(r), int(st)) for t, a, tt, r, st in rows]
full = [r for r in rows if r[1] >= calls]
print(f"sipp exit status {rc}")
stats = list(csv.reader(open(f"{work}/stats.csv"), delimiter=";"))
h, last = stats[0], stats[-1]
col = lambda n: last[h.index(n)]
print(f"calls: successful {col('SuccessfulCall(C)')}, failed {col('FailedCall(C)')}, "
      f"peak concurrent at Tympan {max(r[1] for r in rows)}")
if len(full) >= 2:
    a, b = full[0], full[-1]
    dt = b[0] - a[0]
    cpu = (b[2] - a[2]) / tck / dt
    scpu = (b[4] - a[4]) / tck / dt
    rss = max(r[3] for r in full)
    print(f"all {calls} calls up for {dt:.1f} s: Tympan CPU {cpu*100:.1f}% of one core "
          f"({cpu*100/calls:.3f}% per call), sipp CPU {scpu*100:.1f}%")
    print(f"Tympan RSS {rss/1024:.1f} MiB (idle {rss0/1024:.1f} MiB): "
          f"{(rss-rss0)/calls:.0f} kB per call")
else:
    print("the calls were never all up at once (raise HOLD_S or RATE)")
m = {}
for l in open(f"{work}/metrics.txt"):
    if l and not l.startswith("#"):
        k, _, v = l.rpartition(" ")
        m[k] = v
g = lambda k: float(m.get(k, "0"))
rx = g("tympan_rtp_packets_received_total")
late = g("tympan_rtp_packets_late_total") + g("tympan_rtp_packets_overflow_total")
lost = g("tympan_rtp_packets_lost_total")
drop = g("tympan_rtp_frames_dropped_total")
ticks = g("tympan_rtp_ticks_late_total")
pct = lambda x: 100 * x / rx if rx else 0
print(f"RTP at Tympan: received {rx:.0f}, late {late:.0f} ({pct(late):.3f}%), "
      f"lost {lost:.0f} ({pct(lost):.3f}%), frames dropped by a busy call loop {drop:.0f} "
      f"({pct(drop):.3f}%), playout ticks >20 ms late {ticks:.0f}")
print(f"AMD decisions: {g('tympan_decision_seconds_count'):.0f}")
rtt = []
for f in glob.glob(f"{work}/*_rtt.csv"):
    for r in list(csv.reader(open(f), delimiter=";"))[1:]:
        if len(r) >= 2 and r[1].strip():
            rtt.append(float(r[1]))
rtt.sort()
if rtt:
    q = lambda p: rtt[min(len(rtt) - 1, int(p * len(rtt)))]
    print(f"setup latency INVITE->200 (n={len(rtt)}): p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, "
          f"max {rtt[-1]:.1f} ms")
print(f"files: {work}")
EOF
