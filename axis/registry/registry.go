// Package registry reads the agency registry of SPEC §4: who may send and receive
// through the axis, and which signer certificates belong to each agency.
package registry

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"axis/axis/errs"
)

// Agency is one registry entry.
type Agency struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Certificates are lowercase hex SHA-256 fingerprints of the agency's signer
	// certificates. Empty means: bind by the certificate's subject serialNumber.
	Certificates []string `json:"certificates,omitempty"`
}

// Registry is a validated set of agencies. Its contents are immutable; Replace swaps in
// another set whole (a reload), which every holder of the Registry then sees.
type Registry struct {
	cur     atomic.Pointer[snapshot]
	replace sync.Mutex // one Replace at a time: each reports its change from the one before
}

type snapshot struct {
	byID  map[string]*Agency
	order []string
}

type file struct {
	Agencies []Agency `json:"agencies"`
}

// Load reads and validates a registry file.
func Load(path string) (*Registry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	r, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", path, err)
	}
	return r, nil
}

// Parse decodes and validates registry JSON. Unknown members are refused so that a
// misspelled "certificates" cannot silently turn fingerprint binding off.
func Parse(b []byte) (*Registry, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f file
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("invalid JSON: trailing data after the registry object")
	}
	if len(f.Agencies) == 0 {
		return nil, fmt.Errorf("no agencies")
	}
	r := &snapshot{byID: make(map[string]*Agency, len(f.Agencies))}
	// Kafka refuses two topic names that differ only in '.' against '_' (they collide in
	// its metric names), so two such ids could never both have an inbox.
	topicOf := make(map[string]string, len(f.Agencies))
	for i := range f.Agencies {
		a := f.Agencies[i]
		a.ID = strings.TrimSpace(a.ID)
		if a.ID == "" {
			return nil, fmt.Errorf("agency %d: empty id", i)
		}
		if strings.ContainsAny(a.ID, " \t\r\n/\\") || !validTopicPart(a.ID) {
			// The id becomes part of a Kafka topic name (axis.inbox.<id>).
			return nil, fmt.Errorf("agency %q: id may only contain letters, digits, '.', '_' and '-'", a.ID)
		}
		if _, dup := r.byID[a.ID]; dup {
			return nil, fmt.Errorf("agency %q listed twice", a.ID)
		}
		folded := strings.ReplaceAll(a.ID, ".", "_")
		if other, ok := topicOf[folded]; ok {
			return nil, fmt.Errorf("agencies %q and %q: ids differing only in '.' and '_' would collide as Kafka topic names", other, a.ID)
		}
		topicOf[folded] = a.ID
		for j, fp := range a.Certificates {
			n := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(fp), ":", ""))
			if raw, err := hex.DecodeString(n); err != nil || len(raw) != 32 {
				return nil, fmt.Errorf("agency %q: certificate %d is not a SHA-256 hex fingerprint", a.ID, j)
			}
			a.Certificates[j] = n
		}
		r.byID[a.ID] = &a
		r.order = append(r.order, a.ID)
	}
	reg := &Registry{}
	reg.cur.Store(r)
	return reg, nil
}

// Change is what a Replace changed, by agency id (file order).
type Change struct {
	Added, Removed, Changed []string // Changed: name or certificates
}

// Replace makes n's agencies this registry's, for every holder of it, and reports the
// change. n itself is left as it is.
func (r *Registry) Replace(n *Registry) Change {
	r.replace.Lock()
	defer r.replace.Unlock()
	old, next := r.cur.Load(), n.cur.Load()
	var c Change
	for _, id := range next.order {
		o, ok := old.byID[id]
		switch {
		case !ok:
			c.Added = append(c.Added, id)
		case o.Name != next.byID[id].Name || !slices.Equal(o.Certificates, next.byID[id].Certificates):
			c.Changed = append(c.Changed, id)
		}
	}
	for _, id := range old.order {
		if _, ok := next.byID[id]; !ok {
			c.Removed = append(c.Removed, id)
		}
	}
	r.cur.Store(next)
	return c
}

func validTopicPart(s string) bool {
	if len(s) > 200 {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Snapshot returns the agencies in use now, as a Registry a later Replace does not
// change: several questions about one message get answers from the same set.
func (r *Registry) Snapshot() *Registry {
	s := &Registry{}
	s.cur.Store(r.cur.Load())
	return s
}

// Lookup returns the agency with this id.
func (r *Registry) Lookup(id string) (Agency, bool) {
	a, ok := r.cur.Load().byID[id]
	if !ok {
		return Agency{}, false
	}
	return *a, true
}

// Name is the agency's display name, or the id itself when unknown.
func (r *Registry) Name(id string) string {
	if a, ok := r.cur.Load().byID[id]; ok && a.Name != "" {
		return a.Name
	}
	return id
}

// Require returns unknown_agency unless every id is registered; role ("sender",
// "recipient") names the field in the message.
func (r *Registry) Require(role string, ids ...string) error {
	byID := r.cur.Load().byID
	for _, id := range ids {
		if _, ok := byID[id]; !ok {
			return errs.E(errs.UnknownAgency, "%s %q is not in the registry", role, id)
		}
	}
	return nil
}

// Fingerprints are the registered signer fingerprints of an agency (nil if none).
func (r *Registry) Fingerprints(id string) []string {
	if a, ok := r.cur.Load().byID[id]; ok {
		return a.Certificates
	}
	return nil
}

// IDs lists every agency id in file order.
func (r *Registry) IDs() []string { return append([]string(nil), r.cur.Load().order...) }

// Agencies lists every agency sorted by id.
func (r *Registry) Agencies() []Agency {
	cur := r.cur.Load()
	out := make([]Agency, 0, len(cur.order))
	for _, id := range cur.order {
		out = append(out, *cur.byID[id])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Len is the number of agencies.
func (r *Registry) Len() int { return len(r.cur.Load().order) }
