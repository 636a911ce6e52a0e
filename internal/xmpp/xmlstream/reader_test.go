package xmlstream

import (
	"errors"
	"io"
	"strings"
	"testing"
)

const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`

func TestReadsStanzas(t *testing.T) {
	r := NewReader(strings.NewReader(header+` <message to='bob@localhost' type='chat'><body>hi &amp; bye</body><x xmlns='urn:x'/></message>
		<presence/></stream:stream>`), DefaultLimits)
	st, err := r.Open()
	if err != nil || st.Name.Local != "stream" {
		t.Fatal(st, err)
	}
	m, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if m.Name.Space != "jabber:client" || m.Name.Local != "message" || m.AttrValue("to") != "bob@localhost" {
		t.Fatalf("message %+v", m)
	}
	if b := m.Child("jabber:client", "body"); b == nil || b.Text() != "hi & bye" {
		t.Fatalf("body %+v", b)
	}
	if m.Child("urn:x", "x") == nil {
		t.Fatal("namespaced child lost")
	}
	if p, err := r.Next(); err != nil || p.Name.Local != "presence" {
		t.Fatal(p, err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("end of stream: %v", err)
	}
}

func condition(err error) string {
	var se *StreamError
	if errors.As(err, &se) {
		return se.Condition
	}
	return ""
}

func TestRejects(t *testing.T) {
	small := Limits{MaxStanza: 1024, MaxDepth: 4, MaxAttrs: 3}
	for name, tc := range map[string]struct {
		body string
		want string
	}{
		"comment":            {`<!-- hi --><presence/>`, "restricted-xml"},
		"processing instr.":  {`<?evil x?><presence/>`, "restricted-xml"},
		"entity declaration": {`<!DOCTYPE x [<!ENTITY a "aaaa">]><presence/>`, "restricted-xml"},
		"unknown entity":     {`<message><body>&lol;</body></message>`, "not-well-formed"},
		"mismatched end":     {`<message></presence>`, "not-well-formed"},
		"text at top level":  {`hello`, "not-well-formed"},
		"deep nesting":       {strings.Repeat("<a>", 10) + strings.Repeat("</a>", 10), "policy-violation"},
		"many attributes":    {`<presence a='1' b='2' c='3' d='4'/>`, "policy-violation"},
		"huge stanza":        {`<message><body>` + strings.Repeat("x", 5000) + `</body></message>`, "policy-violation"},
		"huge attribute":     {`<message id='` + strings.Repeat("x", 5000) + `'/>`, "policy-violation"},
		"unclosed stanza":    {`<message><body>`, "not-well-formed"},
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReader(strings.NewReader(header+tc.body), small)
			if _, err := r.Open(); err != nil {
				t.Fatal(err)
			}
			_, err := r.Next()
			if c := condition(err); c != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestHeader(t *testing.T) {
	for body, want := range map[string]string{
		`<stream xmlns='jabber:client'>`: "invalid-namespace",
		`<!DOCTYPE stream><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`: "restricted-xml",
		`garbage`: "not-well-formed",
	} {
		_, err := NewReader(strings.NewReader(body), DefaultLimits).Open()
		if c := condition(err); c != want {
			t.Errorf("%q: %v, want %s", body, err, want)
		}
	}
	if _, err := NewReader(strings.NewReader(""), DefaultLimits).Open(); !errors.Is(err, io.EOF) {
		t.Errorf("empty: %v", err)
	}
}

// TestManyStanzasWithinBudget: the size budget is per stanza, not per stream.
func TestManyStanzasWithinBudget(t *testing.T) {
	stanza := `<message><body>` + strings.Repeat("x", 800) + `</body></message>`
	r := NewReader(strings.NewReader(header+strings.Repeat(stanza, 100)), Limits{MaxStanza: 1024, MaxDepth: 4, MaxAttrs: 4})
	if _, err := r.Open(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := r.Next(); err != nil {
			t.Fatalf("stanza %d: %v", i, err)
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add(header + `<message><body>hi</body></message></stream:stream>`)
	f.Add(header + `<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>`)
	f.Add(`<!DOCTYPE x [<!ENTITY a "a">]>`)
	lim := Limits{MaxStanza: 2048, MaxDepth: 8, MaxAttrs: 8}
	f.Fuzz(func(t *testing.T, s string) {
		r := NewReader(strings.NewReader(s), lim)
		if _, err := r.Open(); err != nil {
			return
		}
		// a reader that rests between stanzas (as an idle stream does) reads the same
		resting := NewReader(strings.NewReader(s), lim)
		if _, err := resting.Open(); err != nil {
			t.Fatalf("the same header failed the second time: %v", err)
		}
		for i := 0; i < 1000; i++ {
			el, err := r.Next()
			if err != nil {
				return
			}
			resting.SkipSpace()
			resting.Rest()
			if el3, err := resting.Next(); err != nil || el3.String("") != el.String("") {
				t.Fatalf("after a rest: %v, %v; without: %s", el3, err, el.String(""))
			}
			if d := depth(el); d > lim.MaxDepth {
				t.Fatalf("element nested %d deep beyond the limit", d)
			}
			// what String writes reads back as the same tree
			again := NewReader(strings.NewReader(header+el.String("jabber:client")), Limits{MaxStanza: 1 << 20, MaxDepth: 64, MaxAttrs: 64})
			if _, err := again.Open(); err != nil {
				t.Fatal(err)
			}
			el2, err := again.Next()
			if err != nil {
				t.Fatalf("re-reading %q: %v", el.String("jabber:client"), err)
			}
			if a, b := el.String(""), el2.String(""); a != b {
				t.Fatalf("round trip changed the element:\n%s\n%s", a, b)
			}
		}
	})
}

func depth(e *Element) int {
	max := 0
	for _, n := range e.Children {
		if c, ok := n.(*Element); ok {
			if d := depth(c); d > max {
				max = d
			}
		}
	}
	return max + 1
}

// chunks is an input that hands out one string per Read, as a socket
// hands out what arrived.
type chunks []string

func (c *chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	if n < len((*c)[0]) {
		(*c)[0] = (*c)[0][n:]
	} else {
		*c = (*c)[1:]
	}
	return n, nil
}

// TestWaitingBetweenStanzas: what a stream's reader asks before it waits
// for bytes without a goroutine. A whitespace keepalive is consumed whole
// and leaves nothing buffered (the decoder would have waited inside it for
// the byte after), bytes handed back with Unread come first, and stanzas
// around them parse as before.
func TestWaitingBetweenStanzas(t *testing.T) {
	in := chunks{header, "<presence/>", " \n\t ", "<message id='a'/> ", "iq id='b' type='get'/>"}
	r := NewReader(&in, DefaultLimits)
	if _, err := r.Open(); err != nil {
		t.Fatal(err)
	}
	next := func(want string) {
		t.Helper()
		if err := r.Fill(); err != nil {
			t.Fatal(err)
		}
		r.SkipSpace()
		for r.Buffered() == 0 { // only a keepalive came: read on
			if err := r.Fill(); err != nil {
				t.Fatal(err)
			}
			r.SkipSpace()
		}
		el, err := r.Next()
		if err != nil || el.Name.Local != want {
			t.Fatalf("got %v, %v; want <%s>", el, err, want)
		}
	}
	next("presence")
	if n := r.Buffered(); n != 0 {
		t.Fatalf("%d bytes buffered after a whole stanza", n)
	}
	if err := r.Fill(); err != nil {
		t.Fatal(err)
	}
	r.SkipSpace()
	if n := r.Buffered(); n != 0 {
		t.Fatalf("a keepalive left %d bytes to parse", n)
	}
	next("message")
	r.SkipSpace() // the space after it
	if n := r.Buffered(); n != 0 {
		t.Fatalf("%d bytes left after the space behind a stanza", n)
	}
	r.Unread([]byte("<")) // as if someone else read the first byte of the next stanza
	if r.Buffered() != 1 {
		t.Fatal("Unread did not buffer")
	}
	next("iq")
}

// TestRestBetweenStanzas: a reader that dropped its decoder between two
// stanzas (to wait idle) reads on with a new one that knows the stream
// header's namespaces, a prefix bound there included.
func TestRestBetweenStanzas(t *testing.T) {
	in := chunks{`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:x='urn:x' to='localhost' version='1.0'>`,
		"<presence/>", "<message id='a'><x:y/></message>", "<iq id='b' type='get'/></stream:stream>"}
	r := NewReader(&in, DefaultLimits)
	if _, err := r.Open(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"presence", "message", "iq"} {
		r.Rest()
		el, err := r.Next()
		if err != nil || el.Name.Local != want || el.Name.Space != "jabber:client" {
			t.Fatalf("got %v, %v; want <%s>", el, err, want)
		}
		if want == "message" && el.Child("urn:x", "y") == nil {
			t.Fatalf("the prefix bound in the header was lost: %s", el.String(""))
		}
	}
	r.Rest()
	if _, err := r.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("the end of the stream after a rest: %v", err)
	}
}
