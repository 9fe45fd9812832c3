#!/usr/bin/env bash
# The whole story, self-contained: a daemon with the embedded broker in a temporary data
# directory, the Government Office sends a signed decree to three agencies, each inbox
# receives the byte-exact package and answers "arrived", one recipient registers,
# assigns, processes and completes it, the sender tracks the timeline, and an auditor
# exports and verifies the audit log. Exits non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/axis}
[ -x "$BIN" ] || make build >/dev/null
WORK=$(mktemp -d "${TMPDIR:-/tmp}/axis-demo.XXXXXX")
HTTP=${DEMO_HTTP:-127.0.0.1:18480}
BROKER=${DEMO_BROKER:-127.0.0.1:19492}
PKI=$WORK/pki
REG=testdata/agencies.json
SENDER=000.00.00.G22
DOC='000.00.00.G22,2026/11/22,1234/NĐ-CP'
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
if [ -t 1 ]; then step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }; else step() { printf '\n==> %s\n' "$*"; }; fi

step "development PKI and a daemon with the embedded broker ($WORK)"
"$BIN" pki init --dir "$PKI" --registry "$REG" | tail -n 1
"$BIN" serve --checkpoint-interval 2s --data-dir "$WORK/data" --http "$HTTP" --embedded-broker "$BROKER" --registry "$REG" \
  --trust "$PKI/root.pem" --identity-key "$PKI/axis.key" --identity-cert "$PKI/axis.pem" --log-format json \
  2>"$WORK/daemon.log" &
pid=$!
for _ in $(seq 100); do curl -fsS "http://$HTTP/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$HTTP/readyz" >/dev/null

step "the Government Office signs and sends the decree"
"$BIN" sign --key "$PKI/agencies/$SENDER.key" --cert "$PKI/agencies/$SENDER.pem" testdata/demo/decree.edxml -o "$WORK/decree.edxml"
"$BIN" send --server "http://$HTTP" --receipts "$WORK/receipts" "$WORK/decree.edxml"
"$BIN" verify --trust "$PKI/root.pem" "$WORK"/receipts/*

for r in 000.00.00.G01 000.00.00.H41 000.00.00.H53; do
  step "$r reads its inbox, verifies end to end and answers 01 (arrived)"
  "$BIN" inbox --agency "$r" --brokers "$BROKER" --trust "$PKI/root.pem" --registry "$REG" \
    --key "$PKI/agencies/$r.key" --cert "$PKI/agencies/$r.pem" --out "$WORK/inbox/$r"
  cmp "$WORK/decree.edxml" "$WORK"/inbox/$r/*.edxml && echo "byte-exact copy of what the sender signed"
done

R=000.00.00.H41
for code in 03 04 05 06; do
  step "$R sends status $code"
  "$BIN" status --server "http://$HTTP" --key "$PKI/agencies/$R.key" --cert "$PKI/agencies/$R.pem" --doc "$DOC" --code "$code"
done

step "the sender tracks the document"
TOKEN=$("$BIN" token issue --data-dir "$WORK/data" --agency "$SENDER")
sleep 1
"$BIN" track --server "http://$HTTP" --token "$TOKEN" "$DOC"

sleep 2
step "an auditor exports and verifies the audit log"
AUDITOR=$("$BIN" token issue --data-dir "$WORK/data" --auditor)
"$BIN" audit export --server "http://$HTTP" --token "$AUDITOR" > "$WORK/audit.jsonl"
"$BIN" audit verify --trust "$PKI/root.pem" "$WORK/audit.jsonl"
echo
echo "demo complete"
