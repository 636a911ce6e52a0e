package xmlstream

import (
	"bytes"
	"encoding/xml"
	"testing"
)

// FuzzEscape: AppendEscaped writes what encoding/xml's EscapeText writes,
// appended after what b held.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", `a<b>&'"c`, "tab\tnl\ncr\r", "é€😀", "\x00\x1f\x7f", "\xff\xfe", "\uFFFD", "\uFFFE", "\xed\xa0\x80"} {
		f.Add("prefix", s)
	}
	f.Fuzz(func(t *testing.T, prefix, s string) {
		var want bytes.Buffer
		want.WriteString(prefix)
		xml.EscapeText(&want, []byte(s))
		if got := AppendEscaped([]byte(prefix), s); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("AppendEscaped(%q):\n got %q\nwant %q", s, got, want.Bytes())
		}
	})
}

// TestAppendInAppends: AppendIn adds to what the buffer held and writes
// what In returns.
func TestAppendInAppends(t *testing.T) {
	el := New("jabber:client", "presence").Set("to", "a@x/r<1>").Add(New("jabber:client", "status").AddText("out & about"))
	s := In("jabber:client")
	got := el.AppendIn([]byte("<before/>"), s)
	if want := "<before/>" + el.In(s); string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if want := `<presence to='a@x/r&lt;1&gt;'><status>out &amp; about</status></presence>`; el.In(s) != want {
		t.Fatalf("In: %q, want %q", el.In(s), want)
	}
}
