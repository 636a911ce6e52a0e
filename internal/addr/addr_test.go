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
	for _, in := range []string{"bob@x", "bob@x/", "bob@x/a\x00", "bob@x/a@b", "bob@x/" + strings.Repeat("r", 129)} {
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
