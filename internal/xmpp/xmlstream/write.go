package xmlstream

import (
	"encoding/xml"
	"strconv"
	"strings"
)

// xmlURL is the namespace encoding/xml gives the predefined xml: prefix.
const xmlURL = "http://www.w3.org/XML/1998/namespace"

// String serialises e as XML in which parent is the namespace in scope: a
// default namespace is declared where it changes, and namespaced attributes
// get generated prefixes. What Reader reads back from the result is e again
// (FuzzReader checks this), so stanzas can be relayed from the parsed tree.
func (e *Element) String(parent string) string {
	var b strings.Builder
	e.write(&b, parent)
	return b.String()
}

func (e *Element) write(b *strings.Builder, parent string) {
	b.WriteByte('<')
	b.WriteString(e.Name.Local)
	if e.Name.Space != parent {
		b.WriteString(" xmlns='")
		escape(b, e.Name.Space)
		b.WriteByte('\'')
	}
	prefixes := 0
	for _, a := range e.Attr {
		switch {
		case a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns":
			continue // declarations are regenerated
		case a.Name.Space == "":
			b.WriteByte(' ')
		case a.Name.Space == xmlURL:
			b.WriteString(" xml:")
		default:
			p := "a" + strconv.Itoa(prefixes)
			prefixes++
			b.WriteString(" xmlns:" + p + "='")
			escape(b, a.Name.Space)
			b.WriteString("' " + p + ":")
		}
		b.WriteString(a.Name.Local)
		b.WriteString("='")
		escape(b, a.Value)
		b.WriteByte('\'')
	}
	if len(e.Children) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	for _, n := range e.Children {
		switch n := n.(type) {
		case *Element:
			n.write(b, e.Name.Space)
		case CharData:
			escape(b, string(n))
		}
	}
	b.WriteString("</")
	b.WriteString(e.Name.Local)
	b.WriteByte('>')
}

// escape writes s as XML character data or attribute value; tabs, newlines
// and carriage returns become references so attribute values survive
// normalisation.
func escape(b *strings.Builder, s string) {
	xml.EscapeText(b, []byte(s))
}

// Escape returns s escaped for XML text or a quoted attribute value.
func Escape(s string) string {
	var b strings.Builder
	escape(&b, s)
	return b.String()
}
