package vcard

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/store"
)

const sample = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Bob Builder\r\nN:Builder;Bob;;;\r\nEMAIL;TYPE=work:bob@example.com\r\nTEL;VALUE=uri:tel:+1-555-0100\r\n" +
	"NOTE:likes\\, commas\\nand lines\r\nCATEGORIES:Work,Friends\r\nIMPP:xmpp:bob@example.org\r\nitem1.X-CUSTOM:ignored\r\nEND:VCARD\r\n" +
	"BEGIN:VCARD\r\nVERSION:4.0\r\nN:Doe;Jane;;;\r\nEND:VCARD\r\n" +
	"BEGIN:VCARD\r\nVERSION:4.0\r\nORG:nothing usable\r\nEND:VCARD\r\n" +
	"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Folded\r\n  Name\r\nEND:VCARD\r\n" +
	"BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Old\r\nEND:VCARD\r\n" +
	"BEGIN:VCARD\r\nFN:Unterminated\r\n"

func TestParse(t *testing.T) {
	cards, errs, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(cards) != 3 {
		t.Fatalf("want 3 good cards, got %d: %+v", len(cards), cards)
	}
	want := store.Contact{Name: "Bob Builder", Emails: []string{"bob@example.com"}, Phones: []string{"+1-555-0100"},
		Notes: "likes, commas\nand lines", Groups: []string{"Work", "Friends"}, Address: "bob@example.org"}
	if !strings.Contains(cards[0].Contact.Card, "item1.X-CUSTOM:ignored") {
		t.Fatalf("card lines not kept: %q", cards[0].Contact.Card)
	}
	want.Card = cards[0].Contact.Card
	if !reflect.DeepEqual(cards[0].Contact, want) {
		t.Fatalf("got %+v\nwant %+v", cards[0].Contact, want)
	}
	if cards[1].Contact.Name != "Jane Doe" || cards[2].Contact.Name != "Folded Name" {
		t.Fatalf("N fallback / unfolding: %+v %+v", cards[1], cards[2])
	}
	if len(errs) != 3 {
		t.Fatalf("want 3 errors, got %v", errs)
	}
	for i, w := range []struct {
		card int
		sub  string
	}{{3, "no FN"}, {5, "VERSION"}, {6, "missing END"}} {
		if errs[i].Card != w.card || !strings.Contains(errs[i].Err, w.sub) {
			t.Errorf("error %d: %v, want card %d with %q", i, errs[i], w.card, w.sub)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	in := []store.Contact{{ID: "1", Name: "Zoë; the \"first\", " + strings.Repeat("long ", 40), Emails: []string{"z@x"},
		Phones: []string{"+49 30 1"}, Notes: "a\nb\\c", Groups: []string{"A,B", "C"}, Address: "zoe@x"}}
	var buf bytes.Buffer
	if err := Write(&buf, in); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(buf.String(), "\r\n") {
		if len(l) > 75 {
			t.Fatalf("line longer than 75 octets: %q", l)
		}
	}
	cards, errs, err := Parse(&buf)
	if err != nil || len(errs) != 0 || len(cards) != 1 {
		t.Fatal(cards, errs, err)
	}
	got := cards[0].Contact
	got.ID, got.Card = "1", "" // the card's lines are kept (TestCardRoundTrip)
	if !reflect.DeepEqual(got, in[0]) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, in[0])
	}
}

func TestLargeImportKeepsGoodCards(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 5000; i++ {
		if i%500 == 7 {
			b.WriteString("BEGIN:VCARD\r\nVERSION:4.0\r\nEND:VCARD\r\n") // empty: bad
			continue
		}
		fmt.Fprintf(&b, "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Person %d\r\nEMAIL:p%d@example.com\r\nEND:VCARD\r\n", i, i)
	}
	cards, errs, err := Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(cards) != 4990 || len(errs) != 10 {
		t.Fatalf("got %d cards and %d errors", len(cards), len(errs))
	}
	if errs[0].Card != 8 {
		t.Fatalf("first bad card reported as %d", errs[0].Card)
	}
}

func TestOverlongLine(t *testing.T) {
	_, _, err := Parse(strings.NewReader("BEGIN:VCARD\r\nFN:" + strings.Repeat("x", MaxLine+1) + "\r\nEND:VCARD\r\n"))
	if err == nil {
		t.Fatal("an overlong line must fail the import")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("BEGIN:VCARD\nFN:\"a:b\";x\n END:VCARD")
	f.Fuzz(func(t *testing.T, s string) {
		cards, _, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		var cs []store.Contact
		for _, c := range cards {
			cs = append(cs, c.Contact)
		}
		if err := Write(&buf, cs); err != nil {
			t.Fatal(err)
		}
		again, errs, err := Parse(&buf)
		if err != nil || len(errs) != 0 || len(again) != len(cards) {
			t.Fatalf("re-reading what we wrote: %d cards, errs %v, err %v (from %d)", len(again), errs, err, len(cards))
		}
	})
}

// card30 is what a vCard 3.0 client (Apple Contacts, DAVx⁵ in 3.0 mode)
// sends: grouped properties with labels, parameters, a folded photo.
const card30 = "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iOS 17//EN\r\nN:Builder;Bob;;Mr.;\r\nFN:Bob Builder\r\n" +
	"ORG:Builders Ltd;Cranes\r\nitem1.EMAIL;type=INTERNET;type=pref:bob@example.com\r\nitem1.X-ABLabel:_$!<Other>!$_\r\n" +
	"EMAIL;TYPE=WORK:b@work.example\r\nTEL;type=CELL;type=VOICE:+1 555 0100\r\nADR;TYPE=HOME:;;1 Road;Town;;12345;UK\r\n" +
	"NOTE:fixes things\\, mostly\r\nCATEGORIES:Work,Friends\r\nIMPP;X-SERVICE-TYPE=Jabber:xmpp:bob@example.org\r\n" +
	"IMPP;X-SERVICE-TYPE=Skype:skype:bob.b\r\nBDAY:1980-01-02\r\nX-CUSTOM;X-PARAM=\"a:b\":value\r\n" +
	"PHOTO;ENCODING=b;TYPE=JPEG:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n" +
	"UID:6B29FC40-CA47-1067-B31D-00DD010662DA\r\nREV:2024-01-02T03:04:05Z\r\nEND:VCARD\r\n"

// unfolded returns the content lines of a folded card.
func unfolded(t *testing.T, s string) []string {
	t.Helper()
	ls, err := unfold(strings.NewReader(s), MaxCard)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.text)
	}
	return out
}

func TestCardRoundTrip(t *testing.T) {
	c, err := ParseCard([]byte(card30))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Bob Builder" || len(c.Emails) != 2 || c.Phones[0] != "+1 555 0100" || c.Address != "bob@example.org" ||
		c.Notes != "fixes things, mostly" || !reflect.DeepEqual(c.Groups, []string{"Work", "Friends"}) {
		t.Fatalf("fields %+v", c)
	}
	if got, want := unfolded(t, Encode(c)), unfolded(t, card30); !reflect.DeepEqual(got, want) {
		t.Fatalf("read back:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCardFieldChangesKeepTheRest(t *testing.T) {
	c, err := ParseCard([]byte(card30))
	if err != nil {
		t.Fatal(err)
	}
	// what a REST edit does: fields change, the card stays
	c.Name = "Robert Builder"
	c.Emails = []string{"b@work.example", "new@example.com"} // item1 e-mail dropped, one added
	c.Phones = nil
	c.Address = "rob@example.org"
	c.Groups = []string{"Work"}
	got := Encode(c)
	for _, want := range []string{"FN:Robert Builder\r\n", "N:Builder;Robert;;;\r\n", "EMAIL;TYPE=WORK:b@work.example\r\n",
		"EMAIL:new@example.com\r\n", "IMPP:xmpp:rob@example.org\r\n", "IMPP;X-SERVICE-TYPE=Skype:skype:bob.b\r\n",
		"CATEGORIES:Work\r\n", "ADR;TYPE=HOME:;;1 Road;Town;;12345;UK\r\n", "VERSION:3.0\r\n", "UID:6B29FC40", "X-CUSTOM;X-PARAM=\"a:b\":value\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	for _, gone := range []string{"bob@example.com", "TEL", "FN:Bob", "xmpp:bob@"} {
		if strings.Contains(got, gone) {
			t.Errorf("%q should be gone from\n%s", gone, got)
		}
	}
	again, err := ParseCard([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	again.Card, c.Card = "", ""
	if !reflect.DeepEqual(again, c) {
		t.Fatalf("fields read back %+v, want %+v", again, c)
	}
}

func TestParseCardRefuses(t *testing.T) {
	one := "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\n"
	for name, in := range map[string]string{
		"two cards":    one + one,
		"none":         "",
		"invalid utf8": "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:\xff\r\nEND:VCARD\r\n",
		"control":      "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:a\x00b\r\nEND:VCARD\r\n",
		"huge":         "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nNOTE:" + strings.Repeat("x", MaxCard) + "\r\nEND:VCARD\r\n",
		"no end":       "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\n",
		"version 2.1":  "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:A\r\nEND:VCARD\r\n",
	} {
		_, err := ParseCard([]byte(in))
		var ce *CardError
		if !errors.As(err, &ce) {
			t.Errorf("%s: got %v, want a *CardError", name, err)
		}
	}
}

// FuzzParseCard: whatever one card parses to is written so that it reads
// back to the same fields and the same lines.
func FuzzParseCard(f *testing.F) {
	f.Add(card30)
	f.Add("BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nitem2.TEL;type=HOME:tel:+1\r\nEND:VCARD\r\n")
	f.Add("BEGIN:VCARD\nVERSION:3.0\nFN:a\n  b\nCATEGORIES:x\\,y,z\nEND:VCARD")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCard([]byte(s))
		if err != nil {
			return
		}
		out := Encode(c)
		again, err := ParseCard([]byte(out))
		if err != nil {
			t.Fatalf("re-reading what we wrote: %v\n%q", err, out)
		}
		if again.Card != c.Card && !strings.HasPrefix(again.Card, "VERSION:4.0\r\n") {
			t.Fatalf("lines changed:\n%q\n%q", c.Card, again.Card)
		}
		again.Card, c.Card = "", ""
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("fields changed: %+v, want %+v", again, c)
		}
	})
}

// TestVersionAfterOtherLines: a card whose VERSION is not its first
// property (PRODID before it, as many 3.0 clients write) is read back with
// its own VERSION and no second one; a value with a carriage return is
// escaped, never left to break its line.
func TestVersionAfterOtherLines(t *testing.T) {
	in := "BEGIN:VCARD\r\nPRODID:-//Example//EN\r\nVERSION:3.0\r\nFN:Bob\r\nN:Bob;;;;\r\nEND:VCARD\r\n"
	c, err := ParseCard([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out := Encode(c)
	if n := strings.Count(out, "VERSION:"); n != 1 || !strings.Contains(out, "VERSION:3.0") {
		t.Fatalf("%d VERSION lines in\n%s", n, out)
	}
	if e := escape("a\rb"); strings.ContainsRune(e, '\r') {
		t.Fatalf("escape left a carriage return: %q", e)
	}
}
