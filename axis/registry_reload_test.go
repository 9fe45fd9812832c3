package axis

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"axis/axis/errs"
)

// writeRegistry writes the sample registry without the agencies named.
func writeRegistry(t *testing.T, path string, without ...string) {
	t.Helper()
	b, err := os.ReadFile(registryFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Agencies []map[string]any `json:"agencies"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	f.Agencies = slices.DeleteFunc(f.Agencies, func(a map[string]any) bool { return slices.Contains(without, a["id"].(string)) })
	out, _ := json.Marshal(f)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReloadRegistry: an agency added to --registry of a running axis can be addressed
// once it is reloaded (SIGHUP), its inbox topic created first; a removed one can no
// longer be; a registry that does not read leaves the one in use.
func TestReloadRegistry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agencies.json")
	writeRegistry(t, path, tayNinh)
	h := startDaemon(t, func(c *Config, _ *Options) { c.RegistryFile = path })
	b, _ := pkg(t, 1)
	if r := h.postPackage(b); r.Status != 422 || r.errCode() != string(errs.UnknownAgency) {
		t.Fatalf("a package to an agency not in the registry: %d %s", r.Status, r.Body)
	}

	writeRegistry(t, path) // Tây Ninh joins
	ch, err := h.d.ReloadRegistry(context.Background(), "test")
	if err != nil || !slices.Equal(ch.Added, []string{tayNinh}) || len(ch.Removed)+len(ch.Changed) != 0 {
		t.Fatalf("reload: %+v, %v", ch, err)
	}
	if h.bus.Messages(InboxTopic(tayNinh)) == nil {
		t.Fatal("the new agency's inbox topic was not created by the reload")
	}
	h.mustAccept(b)
	h.waitInbox(tayNinh, 1)

	if err := os.WriteFile(path, []byte(`{"agencies":[`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := h.d.ReloadRegistry(context.Background(), "test"); err == nil {
		t.Fatal("a registry that does not parse was loaded")
	}
	b2, _ := pkg(t, 2)
	h.mustAccept(b2) // the registry in use stayed

	writeRegistry(t, path, ngheAn) // Nghệ An leaves
	if ch, err := h.d.ReloadRegistry(context.Background(), "test"); err != nil || !slices.Equal(ch.Removed, []string{ngheAn}) {
		t.Fatalf("reload: %+v, %v", ch, err)
	}
	b3, _ := pkg(t, 3)
	if r := h.postPackage(b3); r.Status != 422 || r.errCode() != string(errs.UnknownAgency) {
		t.Fatalf("a package to a removed agency: %d %s", r.Status, r.Body)
	}
	// What was queued for it before is still delivered.
	eventually(t, 10*time.Second, "both packages in Nghệ An's inbox", func() bool { return len(h.inbox(ngheAn)) == 2 })
	// Its history stays readable, by an auditor and by its own token; an agency that
	// never was stays unknown.
	for _, tok := range []string{h.auditorToken(), h.agencyToken(ngheAn)} {
		r := h.do("GET", "/v1/agencies/"+ngheAn+"/documents?direction=in", tok, nil)
		var page struct{ Documents []json.RawMessage }
		if r.Status != 200 {
			t.Fatalf("a removed agency's documents: %d %s", r.Status, r.Body)
		}
		if r.json(t, &page); len(page.Documents) != 2 {
			t.Fatalf("a removed agency's documents: %d, want 2", len(page.Documents))
		}
	}
	if r := h.do("GET", "/v1/agencies/000.00.00.X99/documents", h.auditorToken(), nil); r.Status != 404 {
		t.Fatalf("an agency that never was: %d", r.Status)
	}
}
