package core

import "testing"

// FuzzHandles: every handle made is one IsHandle takes, none is made for
// two different pairs of one app (no collision in practice: 130 bits),
// and IsHandle takes nothing but handles' shape.
func FuzzHandles(f *testing.F) {
	f.Add("chat", "alice@x", "bob@x", "hxoe22n2ycdjwjzwu6qvjy6ujac")
	f.Add("", "", "", "h")
	f.Add("a\x00b", "c", "d\x00", "HXOE22N2YCDJWJZWU6QVJY6UJAC")
	hs := NewHandles([]byte("fuzz"))
	f.Fuzz(func(t *testing.T, app, holder, other, s string) {
		h := hs.Of(app, holder, other)
		if !IsHandle(h) {
			t.Fatalf("Of made %q, which IsHandle refuses", h)
		}
		if other != holder && h == hs.Of(app, holder, holder) {
			t.Fatalf("a contact's handle is the holder's own: %q", h)
		}
		if IsHandle(s) && (len(s) != 27 || s[0] != 'h') {
			t.Fatalf("IsHandle took %q", s)
		}
	})
}

// TestHandlesArePairwise: one secret, stable names; another app, another
// holder or another secret, another name.
func TestHandlesArePairwise(t *testing.T) {
	a, b := NewHandles([]byte("one")), NewHandles([]byte("two"))
	h := a.Of("chat", "dave@x", "alice@x")
	if h != a.Of("chat", "dave@x", "alice@x") || !IsHandle(h) {
		t.Fatal("a handle must be stable")
	}
	for _, other := range []string{a.Of("game", "dave@x", "alice@x"), a.Of("chat", "bob@x", "alice@x"), a.Of("chat", "dave@x", "carol@x"), b.Of("chat", "dave@x", "alice@x")} {
		if other == h {
			t.Fatal("handles must differ by app, holder, contact and secret")
		}
	}
	for _, s := range []string{"", "alice@x", "h", "hxoe22n2ycdjwjzwu6qvjy6uja1", "Hxoe22n2ycdjwjzwu6qvjy6ujac", "hxoe22n2ycdjwjzwu6qvjy6ujacd"} {
		if IsHandle(s) {
			t.Errorf("IsHandle(%q)", s)
		}
	}
}
