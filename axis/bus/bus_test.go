package bus_test

import (
	"strings"
	"testing"

	"axis/axis/bus"
	"axis/axis/errs"
)

func TestHeaders(t *testing.T) {
	m := bus.Message{Headers: []bus.Header{{"a", []byte("1")}, {"b", []byte("2")}, {"a", []byte("3")}}}
	tests := []struct {
		key, want string
		ok        bool
	}{{"a", "1", true}, {"b", "2", true}, {"c", "", false}}
	for _, tc := range tests {
		v, ok := m.LookupHeader(tc.key)
		if string(v) != tc.want || ok != tc.ok || m.Header(tc.key) != tc.want {
			t.Errorf("header %q = %q, %v; want %q, %v", tc.key, v, ok, tc.want, tc.ok)
		}
	}
	orig := m.Headers
	m.SetHeader("a", "9")
	if len(m.Headers) != 2 || m.Header("a") != "9" || m.Header("b") != "2" {
		t.Errorf("after SetHeader: %v", m.Headers)
	}
	if string(orig[0].Value) != "1" {
		t.Error("SetHeader modified the original header slice")
	}
}

func TestCheckTopic(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"axis.inbox.000.00.00.G22", true},
		{"axis.dlq", true},
		{"a_b-c", true},
		{strings.Repeat("x", 249), true},
		{"", false},
		{".", false},
		{"..", false},
		{strings.Repeat("x", 250), false},
		{"a b", false},
		{"a/b", false},
		{"hà-nội", false},
	}
	for _, tc := range tests {
		err := bus.CheckTopic(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckTopic(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errs.Is(err, errs.BadRequest) {
			t.Errorf("CheckTopic(%q) code = %s, want %s", tc.name, errs.CodeOf(err), errs.BadRequest)
		}
	}
}

func FuzzCheckTopic(f *testing.F) {
	for _, s := range []string{"axis.status", "", ".", "a b", "x\x00", strings.Repeat("y", 250)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if bus.CheckTopic(name) != nil {
			return
		}
		if len(name) == 0 || len(name) > 249 || name == "." || name == ".." {
			t.Fatalf("accepted %q", name)
		}
		for _, c := range []byte(name) {
			if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", rune(c)) {
				t.Fatalf("accepted %q with byte %q", name, c)
			}
		}
	})
}
