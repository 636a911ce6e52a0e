package addr

import (
	"errors"
	"strings"
	"testing"
)

func TestBare(t *testing.T) {
	for in, want := range map[string]string{
		"alice@localhost":         "alice@localhost",
		"Alice.B-c+d@Example.ORG": "alice.b-c+d@example.org",
		"ＡＬＩＣＥ@localhost":         "alice@localhost", // PRECIS UsernameCaseMapped: width and case mapped
	} {
		got, err := Bare(in)
		if err != nil || got != want {
			t.Errorf("Bare(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "alice", "@x", "a@", "a b@x", "a@-x", "a@x..y", "a@x_y", strings.Repeat("a", 65) + "@x", "a@x/r", "é@x"} {
		if _, err := Bare(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Bare(%q) accepted", in)
		}
	}
}

func TestFullAndParse(t *testing.T) {
	b, r, err := Full("Bob@x/phone 1")
	if err != nil || b != "bob@x" || r != "phone 1" {
		t.Fatalf("Full: %q %q %v", b, r, err)
	}
	if _, r, err := Full("bob@x/café"); err != nil || r != "café" {
		t.Fatalf("a resource in NFC: %q %v", r, err)
	}
	// not in OpaqueString form: decomposed (not NFC), a control character, a non-character
	for _, in := range []string{"bob@x", "bob@x/", "bob@x/a\x00", "bob@x/a@b", "bob@x/" + strings.Repeat("r", 129),
		"bob@x/cafe\u0301", "bob@x/a\u0007b", "bob@x/\uffff"} {
		if _, _, err := Full(in); err == nil {
			t.Errorf("Full(%q) accepted", in)
		}
	}
	if b, r, err := Parse("bob@x"); err != nil || b != "bob@x" || r != "" {
		t.Fatalf("Parse bare: %q %q %v", b, r, err)
	}
	if DomainOf("bob@x.org") != "x.org" {
		t.Fatal("DomainOf")
	}
}

// FuzzParse: what Parse accepts it returns in normal form, which it
// accepts again unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"alice@localhost", "Bob@X.org/phone", "ＡＬＩＣＥ@x/café", "a@b/c/d", "@", "x@y/\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		bare, resource, err := Parse(s)
		if err != nil {
			return
		}
		again := bare
		if resource != "" {
			again += "/" + resource
		}
		b2, r2, err := Parse(again)
		if err != nil || b2 != bare || r2 != resource {
			t.Fatalf("Parse(%q) = %q %q, but Parse(%q) = %q %q %v", s, bare, resource, again, b2, r2, err)
		}
	})
}
