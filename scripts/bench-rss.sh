#!/usr/bin/env bash
# make bench-rss: the daemon's memory over many packages. Starts one `axis serve` with its
# embedded broker and runs `axis loadgen` ROUNDS times (N packages each, ECDSA agency keys
# so that signing the corpora is quick), printing the daemon's memory after each round:
# VmRSS (what monitoring shows), RssAnon (heap and stacks) and RssFile (mapped files: the
# store's pages), and the size of the data directory.
#
# Environment (all optional): ROUNDS=10 N=20000 HTTP=127.0.0.1:18082 BROKER=127.0.0.1:19094 KEEP=1
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/axis}
GO=${GO:-go}
REGISTRY=${REGISTRY:-testdata/agencies.json}
HTTP=${HTTP:-127.0.0.1:18082}
BROKER=${BROKER:-127.0.0.1:19094}
ROUNDS=${ROUNDS:-10}
N=${N:-20000}

"$GO" build -o "$BIN" ./cmd/axis
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
bench_setup bench-rss --ecdsa
bench_serve --log-level warn
mem() { awk '/^(VmRSS|VmHWM|RssAnon|RssFile):/{sub(":","",$1); printf "%s_mb=%.0f ", $1, $2/1024}' "/proc/$PID/status"; }
echo "start: $(mem)"
for i in $(seq 1 "$ROUNDS"); do
  "$BIN" loadgen --server "http://$HTTP" --pki "$TMP/pki" --registry "$REGISTRY" --brokers "$BROKER" \
    --n "$N" --seed "$i" | tail -n 1
  echo "after $((i * N)) packages: $(mem)data_dir_mb=$(du -sm "$TMP/data" | cut -f1)"
done
