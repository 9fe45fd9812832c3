package verify

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"sync/atomic"
	"testing"

	"axis/axis/registry"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
)

// A registry reload (Replace) during a Check must not mix two registries: with G22
// pinned to another certificate before and removed after, every Check must refuse a
// package signed by an unpinned certificate naming G22. Check read the sender's
// presence (Require) and its pins (Fingerprints) from two snapshots: present in the old
// one, no pins in the new one (nil: bound by serialNumber only), so it was accepted.
func TestCheckSeesOneRegistry(t *testing.T) {
	decree, err := os.ReadFile("../../testdata/demo/decree.edxml")
	if err != nil {
		t.Fatal(err)
	}
	root, err := devpki.NewRoot(devpki.CertOptions{CommonName: "review root"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := devpki.NewLeaf(root, devpki.CertOptions{CommonName: "000.00.00.G22", SerialNumber: "000.00.00.G22"})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := (&signing.Signer{Key: leaf.Key, Cert: leaf.Cert}).SignBytes(decree)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := signing.NewTrustStore([]*x509.Certificate{root.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile("../../testdata/agencies.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Agencies []map[string]any `json:"agencies"`
	}
	if err := json.Unmarshal(full, &f); err != nil {
		t.Fatal(err)
	}
	var pinned, removed []map[string]any
	for _, a := range f.Agencies {
		if a["id"] == "000.00.00.G22" {
			p := map[string]any{"id": a["id"], "name": a["name"], "certificates": []string{"00000000000000000000000000000000000000000000000000000000000000aa"}}
			pinned = append(pinned, p)
			continue
		}
		pinned, removed = append(pinned, a), append(removed, a)
	}
	parse := func(as []map[string]any) *registry.Registry {
		b, _ := json.Marshal(map[string]any{"agencies": as})
		r, err := registry.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	before, after := parse(pinned), parse(removed)
	reg := parse(pinned)
	c := New(signing.NewVerifier(ts, signing.Options{}), reg, envelope.DefaultLimits())
	for _, r := range []*registry.Registry{before, after} {
		reg.Replace(r)
		if _, err := c.Check(signed); err == nil {
			t.Fatal("accepted without a reload in flight")
		}
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			if i%2 == 0 {
				reg.Replace(before)
			} else {
				reg.Replace(after)
			}
		}
	}()
	defer func() { stop.Store(true); <-done }()
	for i := range 3000 {
		if res, err := c.Check(signed); err == nil {
			t.Fatalf("check %d accepted %s from an unpinned certificate while the registry was reloaded", i, res.From)
		}
	}
}
