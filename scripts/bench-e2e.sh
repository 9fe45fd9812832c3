#!/usr/bin/env bash
# make bench-e2e: the end-to-end benchmark on this machine. Builds bin/axis, creates a
# development PKI in a temporary directory, starts `axis serve` with its embedded broker
# (default settings: the broker fsyncs every batch), runs `axis loadgen` against it,
# then stops the daemon. Everything runs on this machine: daemon, broker and loadgen
# share its cores. The last line is loadgen's summary (SPEC §5).
#
# Environment (all optional):
#   N=20000 SIZE=5000 RECIPIENTS=3    the corpus
#   RATE=0                             packages/s offered, open loop (0: full speed)
#   CONCURRENCY=64                     submissions in flight
#   ECDSA=1                            ECDSA P-256 agency keys instead of RSA-2048 (the axis identity is always ECDSA P-256)
#   SERVE_ARGS="--embedded-broker-nosync"   extra `axis serve` flags (e.g. --pprof 127.0.0.1:6060)
#   LOADGEN_ARGS="--cpuprofile lg.prof"     extra `axis loadgen` flags
#   HTTP=127.0.0.1:18080 BROKER=127.0.0.1:19092   listen addresses
#   KEEP=1                             keep the temporary directory (serve.log, data)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/axis}
GO=${GO:-go}
REGISTRY=${REGISTRY:-testdata/agencies.json}
HTTP=${HTTP:-127.0.0.1:18080}
BROKER=${BROKER:-127.0.0.1:19092}

"$GO" build -o "$BIN" ./cmd/axis
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
pki_flags=()
if [ -n "${ECDSA:-}" ]; then pki_flags=(--ecdsa); fi
bench_setup bench-e2e "${pki_flags[@]}"
# shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
bench_serve ${SERVE_ARGS:-}
echo "axis serve ${SERVE_ARGS:-} (pid $PID, $(nproc) cores, agency keys ${ECDSA:+ECDSA P-256}${ECDSA:-RSA-2048}, axis identity ECDSA P-256)" >&2

cpu_secs() { # utime+stime of the daemon (broker included), in seconds
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14+$15)/hz}' "/proc/$PID/stat"
}
cpu0=$(cpu_secs)
timer=()
if [ -x /usr/bin/time ]; then timer=(/usr/bin/time -f "loadgen: cpu_s=%U+%S max_rss_kb=%M"); fi
status=0
"${timer[@]}" "$BIN" loadgen --server "http://$HTTP" --pki "$TMP/pki" --registry "$REGISTRY" --brokers "$BROKER" \
  --n "${N:-20000}" --size "${SIZE:-5000}" --recipients "${RECIPIENTS:-3}" --rate "${RATE:-0}" \
  --concurrency "${CONCURRENCY:-64}" ${LOADGEN_ARGS:-} || status=$?
echo "daemon: cpu_s=$(awk -v a="$cpu0" -v b="$(cpu_secs)" 'BEGIN{printf "%.1f", b-a}') during the run, $(awk '/^(VmRSS|VmHWM|RssAnon|RssFile):/{sub(":","",$1); printf "%s_mb=%.0f ", $1, $2/1024}' "/proc/$PID/status")" >&2
curl -fsS "http://$HTTP/metrics" 2>/dev/null | tee "$TMP/metrics.txt" | awk '
  /^axis_store_writer_busy_seconds_total/ {busy=$2} /^axis_store_writer_run_seconds_total/ {run=$2}
  /^axis_verify_seconds_sum/ {vs=$2} /^axis_verify_seconds_count/ {vn=$2}
  /^axis_store_commit_seconds_sum\{op="accept"\}/ {as=$2} /^axis_store_commit_seconds_count\{op="accept"\}/ {an=$2}
  /^axis_store_batch_ops_count/ {n=$2} /^axis_store_batch_ops_sum/ {ops=$2}
  END {if (n) printf "store writer: busy_s=%.1f run_s=%.1f batches=%d ops_per_batch=%.1f\n", busy, run, n, ops/n
       if (vn && an) printf "intake: verify_ms=%.2f accept_ms=%.2f (means)\n", 1000*vs/vn, 1000*as/an}' >&2 || true
exit $status
