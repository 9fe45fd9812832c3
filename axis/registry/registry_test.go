package registry

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"axis/axis/errs"
)

func TestLoadSample(t *testing.T) {
	r, err := Load(filepath.Join("..", "..", "testdata", "agencies.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 13 {
		t.Fatalf("len %d", r.Len())
	}
	if got := r.Name("000.00.00.G22"); got != "Văn phòng Chính phủ" {
		t.Fatalf("name %q", got)
	}
	if err := r.Require("recipient", "000.00.00.H53", "000.21.32.H53"); err != nil {
		t.Fatal(err)
	}
	if err := r.Require("sender", "28.22.H17"); errs.CodeOf(err) != errs.UnknownAgency {
		t.Fatalf("unknown sender: %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	for name, in := range map[string]string{
		"not json":        `{`,
		"empty":           `{"agencies":[]}`,
		"empty id":        `{"agencies":[{"id":" "}]}`,
		"duplicate":       `{"agencies":[{"id":"A"},{"id":"A"}]}`,
		"bad fp":          `{"agencies":[{"id":"A","certificates":["zz"]}]}`,
		"short fp":        `{"agencies":[{"id":"A","certificates":["abcd"]}]}`,
		"misspelled key":  `{"agencies":[{"id":"A","certificate":["` + fp + `"]}]}`,
		"topic-unsafe":    `{"agencies":[{"id":"A/B"}]}`,
		"trailing":        `{"agencies":[{"id":"A"}]} {}`,
		"topic collision": `{"agencies":[{"id":"000.00.00.G22"},{"id":"000_00_00_G22"}]}`, // Kafka: Invalid Topic
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	r, err := Parse([]byte(`{"agencies":[{"id":"A","certificates":["` + strings.ToUpper(fp[:2]) + ":" + fp[2:] + `"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Fingerprints("A"); len(got) != 1 || got[0] != fp {
		t.Fatalf("fingerprint not normalised: %v", got)
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "agencies.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"agencies":[{"id":"A","name":"x","certificates":[]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		for _, id := range r.IDs() {
			if _, ok := r.Lookup(id); !ok || !validTopicPart(id) {
				t.Fatalf("accepted id %q is not usable", id)
			}
		}
	})
}

// Replace: every holder sees the new set at once, readers racing it see one set or the
// other, and the change is reported by id.
func TestReplace(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	a, err := Parse([]byte(`{"agencies":[{"id":"A","name":"a"},{"id":"B","name":"b"},{"id":"C","name":"c"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(`{"agencies":[{"id":"A","name":"a"},{"id":"C","name":"c","certificates":["` + fp + `"]},{"id":"D","name":"d"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	holder := a // as the intake, the portal and the router hold it
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2000 {
			if n := holder.Len(); n != 3 {
				t.Errorf("a reader saw %d agencies", n)
				return
			}
			holder.Agencies()
			holder.Require("recipient", "A", "C")
		}
	}()
	c := a.Replace(b)
	<-done
	if strings.Join(c.Added, ",") != "D" || strings.Join(c.Removed, ",") != "B" || strings.Join(c.Changed, ",") != "C" {
		t.Fatalf("change %+v, want D added, B removed, C changed", c)
	}
	if err := holder.Require("recipient", "D"); err != nil {
		t.Fatalf("the new agency is unknown to a holder: %v", err)
	}
	if err := holder.Require("recipient", "B"); errs.CodeOf(err) != errs.UnknownAgency {
		t.Fatalf("the removed agency: %v", err)
	}
	if got := holder.Fingerprints("C"); len(got) != 1 || got[0] != fp {
		t.Fatalf("C's fingerprints %v", got)
	}
	if c := a.Replace(b); len(c.Added)+len(c.Removed)+len(c.Changed) != 0 {
		t.Fatalf("replacing with the same set: %+v", c)
	}
}
