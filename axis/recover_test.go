package axis

import (
	"bytes"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"axis/axis/errs"
	"axis/store"
)

// TestStoreStoppedReadsGoOn: after a failed durable write the store stops writing:
// submissions get 503, /readyz fails, axis_store_stopped is 1, and reads go on; Run goes
// on until the data directory is checked (here: not within the test).
func TestStoreStoppedReadsGoOn(t *testing.T) {
	var full atomic.Bool
	h := startDaemon(t, withStoreHooks(func(o *store.Options) {
		o.FailLog = func() error {
			if full.Load() {
				return errors.New("injected: no space left on device")
			}
			return nil
		}
	}), func(c *Config, _ *Options) { c.RecoverProbe = time.Hour })
	b1, doc1 := pkg(t, 1)
	h.mustAccept(b1)
	full.Store(true)
	b2, _ := pkg(t, 2)
	if r := h.postPackage(b2); r.Status != http.StatusServiceUnavailable || r.errCode() != string(errs.Unavailable) {
		t.Fatalf("with the disk full: %d %s", r.Status, r.Body)
	}
	full.Store(false) // freed, but the store stays stopped until it is opened again
	if r := h.postPackage(b2); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("after the failure: %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/readyz", "", nil); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d", r.Status)
	}
	if m := h.do("GET", "/metrics", "", nil).Body; !bytes.Contains(m, []byte("\naxis_store_stopped 1\n")) {
		t.Fatal("axis_store_stopped is not 1")
	}
	if d := h.document(doc1); d.DocumentID != doc1 {
		t.Fatalf("read %+v", d)
	}
	select {
	case err := <-h.done:
		t.Fatalf("Run ended before the data directory was checked: %v", err)
	default:
	}
}
