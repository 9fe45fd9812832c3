#!/usr/bin/env bash
# make run: from nothing to a running axis with the embedded Kafka-protocol broker.
# Creates the development PKI under $DATA/pki if missing, signs the demo decree as the
# Government Office, prints the commands to send it, watch it arrive and answer it,
# then runs the daemon in the foreground (Ctrl-C stops it gracefully).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-.axis}
BIN=${BIN:-bin/axis}
REGISTRY=${REGISTRY:-testdata/agencies.json}
HTTP=${AXIS_HTTP:-127.0.0.1:8080}
BROKER=${AXIS_EMBEDDED_BROKER:-127.0.0.1:9092}
PKI="$DATA/pki"
SENDER=000.00.00.G22
RECIPIENT=000.00.00.H41
DOC='000.00.00.G22,2026/11/22,1234/NĐ-CP'

"$BIN" pki init --dir "$PKI" --registry "$REGISTRY" | tail -n 1
"$BIN" sign --key "$PKI/agencies/$SENDER.key" --cert "$PKI/agencies/$SENDER.pem" \
  testdata/demo/decree.edxml -o "$DATA/decree.signed.edxml"
# On a first run the token secret is created here, for the daemon started below: its
# notice about that is not news (other errors still show).
TOKEN=$("$BIN" token issue --data-dir "$DATA" --agency "$SENDER" --ttl 720h 2> >(grep -v "no token secret in $DATA yet" >&2))

b=; n=
if [ -t 1 ]; then b=$(tput bold 2>/dev/null || true); n=$(tput sgr0 2>/dev/null || true); fi
cat <<MSG

${b}axis is starting${n}: HTTP on http://$HTTP, embedded broker on $BROKER, data in $DATA/.
The Government Office ($SENDER) has signed a decree for three recipients: $DATA/decree.signed.edxml
In another terminal:

  ${b}1. send the decree${n}
  $BIN send --server http://$HTTP $DATA/decree.signed.edxml

  ${b}2. watch it arrive at UBND tỉnh Nghệ An ($RECIPIENT), which answers 01 "arrived"${n}
  $BIN inbox --agency $RECIPIENT --brokers $BROKER --trust $PKI/root.pem --registry $REGISTRY \\
      --key $PKI/agencies/$RECIPIENT.key --cert $PKI/agencies/$RECIPIENT.pem --out $DATA/inbox/$RECIPIENT

  ${b}3. answer it: 03 "accepted and registered"${n}
  $BIN status --server http://$HTTP --key $PKI/agencies/$RECIPIENT.key --cert $PKI/agencies/$RECIPIENT.pem \\
      --doc '$DOC' --code 03

  ${b}and follow it as the sender${n}
  $BIN track --server http://$HTTP --token $TOKEN '$DOC'

The whole story in one go, with its own daemon on other ports: scripts/demo.sh

MSG
exec "$BIN" serve --data-dir "$DATA" --http "$HTTP" --embedded-broker "$BROKER" --registry "$REGISTRY" \
  --trust "$PKI/root.pem" --identity-key "$PKI/axis.key" --identity-cert "$PKI/axis.pem" --log-format console
