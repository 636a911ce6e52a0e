package vcard

import (
	"bytes"
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
	got.ID = "1"
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
