# Sourced by the bench scripts: a temporary directory with a dev PKI, and `axis serve` with
# its embedded broker on it, stopped (and the directory removed unless KEEP is set) on exit.
# Needs BIN, REGISTRY, HTTP and BROKER.

# bench_setup NAME [pki init flags...]: sets TMP and creates $TMP/pki.
bench_setup() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/axis-$1.XXXXXX")
  shift
  PID=
  trap bench_cleanup EXIT INT TERM
  "$BIN" pki init --dir "$TMP/pki" --registry "$REGISTRY" "$@" >/dev/null
}

bench_cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  if [ -n "${KEEP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}

# bench_serve [serve flags...]: starts the daemon on $TMP (sets PID) and waits until ready.
bench_serve() {
  "$BIN" serve --data-dir "$TMP/data" --http "$HTTP" --embedded-broker "$BROKER" --registry "$REGISTRY" \
    --trust "$TMP/pki/root.pem" --identity-key "$TMP/pki/axis.key" --identity-cert "$TMP/pki/axis.pem" \
    --log-format json "$@" >"$TMP/serve.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do
    if curl -fsS "http://$HTTP/readyz" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$PID" 2>/dev/null; then echo "axis serve exited:" >&2; tail -n 20 "$TMP/serve.log" >&2; exit 1; fi
    sleep 0.1
  done
  echo "axis serve not ready after 60 s" >&2
  exit 1
}
