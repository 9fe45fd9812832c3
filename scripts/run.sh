#!/usr/bin/env bash
# make run: set up a development environment from nothing and show axis working.
# Creates the development PKI under $DATA/pki if missing, then (until the daemon lands)
# signs the demo decree as the Government Office and verifies it offline.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-.axis}
BIN=${BIN:-bin/axis}
REGISTRY=${REGISTRY:-testdata/agencies.json}
PKI="$DATA/pki"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "development PKI in $PKI (kept if it exists)"
"$BIN" pki init --dir "$PKI" --registry "$REGISTRY" | tail -n 1

SENDER=000.00.00.G22
step "the Government Office ($SENDER) signs the demo decree"
"$BIN" sign --key "$PKI/agencies/$SENDER.key" --cert "$PKI/agencies/$SENDER.pem" \
  testdata/demo/decree.edxml -o "$DATA/decree.signed.edxml"
echo "signed package: $DATA/decree.signed.edxml"

step "anyone with the national root verifies it offline"
"$BIN" verify --trust "$PKI/root.pem" --registry "$REGISTRY" "$DATA/decree.signed.edxml"

step "a forged copy (one word changed) is refused"
sed 's/Nghị định quy định/Nghị quyết quy định/' "$DATA/decree.signed.edxml" > "$DATA/decree.forged.edxml"
if "$BIN" verify --trust "$PKI/root.pem" --registry "$REGISTRY" "$DATA/decree.forged.edxml"; then
  echo "BUG: the forged package verified" >&2
  exit 1
fi
