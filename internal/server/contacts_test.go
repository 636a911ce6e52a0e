package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/presenced/presenced/client"
)

func TestContactsETagImportExportAndSync(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice := ts.user(t, "alice")
	other, err := alice.Connect(ctx, client.ConnectOptions{Device: "tablet"}) // another device, kept in sync
	must(t, err)

	var c struct {
		ID      string
		Name    string
		Version int64
	}
	hdr, err := alice.DoHeader(ctx, "POST", "/v1/contacts", nil, map[string]any{"name": "Bob", "emails": []string{"bob@mail"}, "groups": []string{"Work"}, "address": "Bob@Localhost"}, &c)
	must(t, err)
	etag := hdr.Get("ETag")
	if etag != fmt.Sprintf(`"%d"`, c.Version) || hdr.Get("Location") != "/v1/contacts/"+c.ID {
		t.Fatalf("create: ETag %q Location %q", etag, hdr.Get("Location"))
	}
	f, err := other.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "contact" })
	must(t, err)
	if !strings.Contains(string(f.Raw), `"op":"put"`) || !strings.Contains(string(f.Raw), `"address":"bob@localhost"`) {
		t.Fatalf("sync event: %s", f.Raw)
	}

	// device A updates with the right ETag; device B's stale write is refused with 412
	put := func(etag, name string) (http.Header, error) {
		return alice.DoHeader(ctx, "PUT", "/v1/contacts/"+c.ID, http.Header{"If-Match": {etag}}, map[string]any{"name": name, "address": "bob@localhost"}, nil)
	}
	h2, err := put(etag, "Robert")
	must(t, err)
	if e := h2.Get("ETag"); e == etag || e == "" {
		t.Fatalf("new ETag %q", h2.Get("ETag"))
	}
	_, err = put(etag, "Bobby")
	var ce *client.Error
	if !asError(err, &ce) || ce.Status != http.StatusPreconditionFailed || ce.Code != "conflict" {
		t.Fatalf("stale write: %v", err)
	}
	var got struct{ Name string }
	must(t, alice.Do(ctx, "GET", "/v1/contacts/"+c.ID, nil, &got))
	if got.Name != "Robert" {
		t.Fatalf("the stale write overwrote: %q", got.Name)
	}
	_, err = alice.DoHeader(ctx, "DELETE", "/v1/contacts/"+c.ID, http.Header{"If-Match": {etag}}, nil, nil)
	if !asError(err, &ce) || ce.Status != 412 {
		t.Fatalf("stale delete: %v", err)
	}

	// import 5,000 cards (1,000 under the race detector), some bad: every
	// good one kept, every bad one reported
	cards := 5000
	if raceOn {
		cards = 1000
	}
	var b strings.Builder
	bad := map[int]bool{}
	for i := 1; i <= cards; i++ {
		switch {
		case i%1000 == 17:
			b.WriteString("BEGIN:VCARD\r\nVERSION:4.0\r\nORG:no name\r\nEND:VCARD\r\n")
			bad[i] = true
		case i%1000 == 503:
			b.WriteString("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Bad Address\r\nIMPP:xmpp:not an address\r\nEND:VCARD\r\n")
			bad[i] = true
		default:
			fmt.Fprintf(&b, "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Person %d\r\nEMAIL:p%d@example.com\r\nCATEGORIES:Imported\r\nEND:VCARD\r\n", i, i)
		}
	}
	var rep struct {
		Imported int
		Failed   []struct {
			Card  int
			Error string
		}
	}
	_, err = alice.DoHeader(ctx, "POST", "/v1/contacts/import", http.Header{"Content-Type": {"text/vcard"}}, []byte(b.String()), &rep)
	must(t, err)
	if rep.Imported != cards-len(bad) || len(rep.Failed) != len(bad) {
		t.Fatalf("imported %d, failed %d", rep.Imported, len(rep.Failed))
	}
	for _, f := range rep.Failed {
		if !bad[f.Card] || f.Error == "" {
			t.Fatalf("reported card %d (%q) is not one of the bad ones", f.Card, f.Error)
		}
	}
	var list struct{ Contacts []struct{ Name string } }
	must(t, alice.Do(ctx, "GET", fmt.Sprintf("/v1/contacts?q=person%%20%d", cards-1), nil, &list))
	if len(list.Contacts) != 1 {
		t.Fatalf("search: %+v", list)
	}
	must(t, alice.Do(ctx, "GET", "/v1/contacts?group=imported", nil, &list))
	if len(list.Contacts) != rep.Imported {
		t.Fatalf("group filter: %d", len(list.Contacts))
	}
	var vcf []byte
	must(t, alice.Do(ctx, "GET", "/v1/contacts/export", nil, &vcf))
	if n := strings.Count(string(vcf), "BEGIN:VCARD"); n != rep.Imported+1 {
		t.Fatalf("export has %d cards", n)
	}
}
