package carddav

import (
	"errors"
	"strings"
	"testing"
)

func TestParseXMLRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"DTD":             `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`,
		"entity":          `<a>&x;</a>`,
		"external entity": `<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>`,
		"PI":              `<a><?php x?></a>`,
		"two roots":       `<a/><b/>`,
		"text outside":    `x<a/>`,
		"deep":            strings.Repeat("<a>", maxDepth+1) + strings.Repeat("</a>", maxDepth+1),
		"unclosed":        `<a><b></a>`,
		"invalid UTF-8":   "<a>\xff</a>",
		"charset":         `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`,
		"empty":           ``,
	} {
		_, err := parseXML([]byte(in))
		var be *BadXMLError
		if !errors.As(err, &be) {
			t.Errorf("%s: got %v, want a *BadXMLError", name, err)
		}
	}
	n, err := parseXML([]byte(`<?xml version="1.0" encoding="utf-8"?><!-- hi --><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>`))
	if err != nil || n.Local != "propfind" || n.Space != "DAV:" || n.child(nsDAV, "prop").children[0].Local != "getetag" {
		t.Fatalf("%+v %v", n, err)
	}
}

func FuzzParseXML(f *testing.F) {
	f.Add(`<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>`)
	f.Add(`<c:addressbook-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><c:filter test="allof"><c:prop-filter name="FN"><c:text-match negate-condition="yes">a</c:text-match></c:prop-filter></c:filter></c:addressbook-query>`)
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseXML([]byte(s))
		if err != nil {
			return
		}
		// whatever parses can be queried and filtered without panicking
		propRequestOf(n)
		parseFilter(n.child(nsCard, "filter")).match([]string{"FN:a", "EMAIL;TYPE=x:b@c"})
	})
}
