#!/usr/bin/env bash
# bench-vs-alertmanager.sh: ingest speed of incidentd against Debian's
# prometheus-alertmanager, on this machine, with the same alerts.
#
# Usage (from the repository root):
#   scripts/bench-vs-alertmanager.sh [-n N] [--batch B] [--senders S] [--postgres DSN]
#
#   -n N            alerts per phase (default 100000): N new alerts, then the same N again
#                   (re-sends of known alerts, as Alertmanager repeats them)
#   --batch B       alerts per request (default 1000)
#   --senders S     concurrent senders (default 2)
#   --postgres DSN  run incidentd on PostgreSQL instead of a temp SQLite file: a fresh
#                   database bench_<random> is created next to DSN's and dropped at the end
#                   (DSN must be allowed to CREATE DATABASE)
#
# What it does, one target at a time so that they do not share the CPU:
#   1. builds cmd/incidentd and cmd/incidentd-loadgen into a temp dir;
#   2. starts prometheus-alertmanager (in memory: --storage.path in the temp dir, no
#      cluster, loopback port), sends the new then the repeat phase to POST /api/v2/alerts,
#      tops the open alerts up to 100,000 and reads its VmRSS/VmHWM, stops it;
#   3. does the same with incidentd (webhook /api/v1/alerts/alertmanager, durable: every
#      2xx is committed);
#   4. prints both rates, the ratio incidentd/Alertmanager, and the memory.
# The load tool's seed is the same for both, so both get the same label sets in the
# same order. Alertmanager's binary: $ALERTMANAGER (default /usr/bin/prometheus-alertmanager).
set -euo pipefail
cd "$(dirname "$0")/.."

n=100000 batch=1000 senders=2 pg=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n) n=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --senders) senders=$2; shift 2 ;;
    --postgres) pg=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
am_bin=${ALERTMANAGER:-/usr/bin/prometheus-alertmanager}
[ -x "$am_bin" ] || { echo "no Alertmanager at $am_bin (apt-get install prometheus-alertmanager)" >&2; exit 2; }
open_target=100000 # open alerts for the memory figure

tmp=$(mktemp -d /tmp/bench-vs-am.XXXXXX)
pid="" pgdb=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$pgdb" ]; then psql -q "$pg" -c "DROP DATABASE IF EXISTS $pgdb" >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "building incidentd and incidentd-loadgen..." >&2
go build -o "$tmp/incidentd" ./cmd/incidentd
go build -o "$tmp/loadgen" ./cmd/incidentd-loadgen

# free_port prints a loopback port nobody listens on.
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 20000))
    if ! (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port" >&2; exit 1
}

wait_ready() { # url
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "process $pid exited; log:" >&2; cat "$tmp/log" >&2; exit 1; }
    sleep 0.1
  done
  echo "not ready: $1" >&2; cat "$tmp/log" >&2; exit 1
}

# load FORMAT URL ALERTS DISTINCT: one loadgen run; prints its alerts/s.
load() {
  local out
  out=$("$tmp/loadgen" --format "$1" --target "$2" --alerts "$3" --distinct "$4" --batch "$batch" \
    --senders "$senders" --seed 42 --duration 10m --probe-interval 0 --json)
  echo "$out" >>"$tmp/reports.json"
  local sent accepted
  sent=$(echo "$out" | sed -n 's/.*"alerts_sent": \([0-9]*\).*/\1/p')
  accepted=$(echo "$out" | sed -n 's/.*"alerts_accepted": \([0-9]*\).*/\1/p')
  if [ "$sent" != "$accepted" ]; then
    echo "$1: only $accepted of $sent alerts accepted:" >&2; echo "$out" >&2; exit 1
  fi
  echo "$out" | sed -n 's/.*"alerts_per_second": \([0-9.]*\).*/\1/p'
}

mem() { # prints "VmRSS VmHWM" in MB
  awk '/^VmRSS/ {rss = $2} /^VmHWM/ {hwm = $2} END {printf "%.0f %.0f", rss / 1024, hwm / 1024}' "/proc/$pid/status"
}

# bench NAME FORMAT URL: the two phases, then memory with open_target alerts open.
bench() {
  echo "$1: $n new alerts..." >&2
  local new rep
  new=$(load "$2" "$3" "$n" "$n")
  echo "$1: the same $n again (repeats)..." >&2
  rep=$(load "$2" "$3" "$n" "$n")
  if [ "$n" -lt "$open_target" ]; then
    echo "$1: topping up to $open_target open alerts..." >&2
    # The same seed: the first n label sets are those already sent.
    load "$2" "$3" "$open_target" "$open_target" >/dev/null
  fi
  echo "$new $rep $(mem)"
}

# Alertmanager: in memory, no gossip, one route to a receiver that sends
# nothing (grouping as incidentd's default), so it does its normal work.
am_port=$(free_port)
cat >"$tmp/alertmanager.yml" <<'EOF'
route:
  receiver: devnull
  group_by: [alertname, cluster, service]
receivers:
  - name: devnull
EOF
"$am_bin" --config.file="$tmp/alertmanager.yml" --storage.path="$tmp/am" \
  --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= --log.level=warn >"$tmp/log" 2>&1 &
pid=$!
wait_ready "http://127.0.0.1:$am_port/-/ready"
read -r am_new am_rep am_rss am_hwm < <(bench alertmanager am-api-v2 "http://127.0.0.1:$am_port")
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

# incidentd: SQLite in the temp dir, or a fresh PostgreSQL database.
if [ -n "$pg" ]; then
  pgdb="bench_$(date +%s)_$RANDOM"
  psql -q "$pg" -c "CREATE DATABASE $pgdb" >/dev/null
  dsn=$(echo "$pg" | sed -E "s#^(postgres(ql)?://[^/?]+)(/[^?]*)?#\1/$pgdb#")
  backend=postgres
else
  dsn="sqlite://$tmp/incidentd.db"
  backend=sqlite
fi
id_port=$(free_port)
cat >"$tmp/incidentd.yml" <<EOF
storage:
  dsn: "$dsn"
log:
  level: warn
EOF
"$tmp/incidentd" --config.file "$tmp/incidentd.yml" --web.listen-address "127.0.0.1:$id_port" >"$tmp/log" 2>&1 &
pid=$!
wait_ready "http://127.0.0.1:$id_port/-/ready"
read -r id_new id_rep id_rss id_hwm < <(bench "incidentd ($backend)" alertmanager "http://127.0.0.1:$id_port")
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'; }
echo
echo "$n alerts per phase, batches of $batch, $senders senders, $(nproc) CPUs"
printf '%-34s %16s %18s %8s\n' "" "alertmanager" "incidentd/$backend" "ratio"
printf '%-34s %16.0f %18.0f %8s\n' "new alerts/s" "$am_new" "$id_new" "$(ratio "$id_new" "$am_new")"
printf '%-34s %16.0f %18.0f %8s\n' "repeats alerts/s" "$am_rep" "$id_rep" "$(ratio "$id_rep" "$am_rep")"
printf '%-34s %16s %18s %8s\n' "repeats/new" "$(ratio "$am_rep" "$am_new")" "$(ratio "$id_rep" "$id_new")" ""
printf '%-34s %16s %18s\n' "VmRSS MB, $open_target open alerts" "$am_rss" "$id_rss"
printf '%-34s %16s %18s\n' "VmHWM MB (peak)" "$am_hwm" "$id_hwm"
