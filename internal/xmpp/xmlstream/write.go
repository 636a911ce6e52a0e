package xmlstream

import (
	"encoding/xml"
	"strconv"
)

// NSXML is the namespace of the predefined xml: prefix (xml:lang).
const NSXML = "http://www.w3.org/XML/1998/namespace"

// NSXMLDecl is the namespace encoding/xml gives prefix declarations
// (xmlns:p='…' is the attribute {NSXMLDecl, p}).
const NSXMLDecl = "xmlns"

// Raw is markup already serialised by this package's writer, written
// verbatim: what a stanza carried and is relayed as it came (a message's
// extension elements), or elements queued for a BOSH response. It must
// have been written for the namespace context it is put in.
type Raw string

// New returns an element named local in namespace space, to be filled
// with Set, Add and Text and written by the one writer below: stanzas are
// built as trees, never as text templates, so nothing goes out unescaped.
func New(space, local string) *Element {
	return &Element{Name: xml.Name{Space: space, Local: local}}
}

// Set gives e the attribute local (in no namespace), replacing any, and
// returns e.
func (e *Element) Set(local, value string) *Element {
	return e.SetNS("", local, value)
}

// SetNS gives e the attribute local in namespace space (written with the
// prefix bound to space in scope, or a generated one), replacing any.
func (e *Element) SetNS(space, local, value string) *Element {
	for i, a := range e.Attr {
		if a.Name.Space == space && a.Name.Local == local {
			e.Attr[i].Value = value
			return e
		}
	}
	if e.Attr == nil { // a stanza's from, to, type and id in one allocation, not three
		e.Attr = make([]xml.Attr, 0, 4)
	}
	e.Attr = append(e.Attr, xml.Attr{Name: xml.Name{Space: space, Local: local}, Value: value})
	return e
}

// Declare binds prefix to namespace space on e, for its attributes and
// descendants (as the BOSH body binds xmpp: and stream:). A default
// namespace (prefix "") is declared only on elements written with a prefix
// (a stream header), since other elements declare their own. Parsed
// elements carry no declarations (Reader resolves and drops them), so only
// a builder's reach the wire.
func (e *Element) Declare(prefix, space string) *Element {
	if prefix == "" {
		e.Attr = append(e.Attr, xml.Attr{Name: xml.Name{Local: "xmlns"}, Value: space})
	} else {
		e.Attr = append(e.Attr, xml.Attr{Name: xml.Name{Space: NSXMLDecl, Local: prefix}, Value: space})
	}
	return e
}

// Add appends children (elements, CharData or Raw; nil elements and empty
// Raw are skipped, so optional parts can be passed as they are) and
// returns e.
func (e *Element) Add(children ...Node) *Element {
	for _, c := range children {
		switch c := c.(type) {
		case *Element:
			if c == nil {
				continue
			}
		case Raw:
			if c == "" {
				continue
			}
		}
		e.Children = append(e.Children, c)
	}
	return e
}

// AddText appends character data, if s is not empty, and returns e.
func (e *Element) AddText(s string) *Element {
	if s != "" {
		e.Children = append(e.Children, CharData(s))
	}
	return e
}

// Scope is what is declared around the place an element is written: the
// default namespace and the bound prefixes.
type Scope struct {
	def   string
	binds []binding // innermost last
}

type binding struct{ prefix, space string }

// In returns the scope inside a stream header (RFC 6120 § 4.8), which
// declares def as the default namespace and the stream: prefix: on TCP,
// stanzas then carry no namespace of their own.
func In(def string) Scope {
	return Scope{def: def, binds: []binding{{"stream", NSStream}}}
}

// Standalone is the scope of an element that stands alone, as each
// WebSocket message does (RFC 7395 § 3.3.3): it declares every namespace
// it uses.
var Standalone = Scope{}

func (s Scope) lookup(prefix string) (string, bool) {
	for i := len(s.binds) - 1; i >= 0; i-- {
		if s.binds[i].prefix == prefix {
			return s.binds[i].space, true
		}
	}
	return "", false
}

// prefixOf finds a prefix bound to space, and not rebound since.
func (s Scope) prefixOf(space string) (string, bool) {
	for i := len(s.binds) - 1; i >= 0; i-- {
		if b := s.binds[i]; b.space == space {
			if now, _ := s.lookup(b.prefix); now == space {
				return b.prefix, true
			}
		}
	}
	return "", false
}

// String serialises e as XML in which parent is the default namespace in
// scope and no prefix is bound: a default namespace is declared where it
// changes, elements of the stream namespace are written stream:name, and
// namespaced attributes use the prefixes declared on e or generated ones.
// What Reader reads back from the result is e again (FuzzReader checks
// this), so stanzas can be relayed from the parsed tree.
func (e *Element) String(parent string) string {
	return e.In(Scope{def: parent})
}

// In serialises e written where s is in scope.
func (e *Element) In(s Scope) string {
	return string(e.AppendIn(nil, s))
}

// AppendIn appends e, written where s is in scope, to b and returns the
// extended slice: a stream writes its elements straight into the buffer
// that goes out, with no string built and copied for each.
func (e *Element) AppendIn(b []byte, s Scope) []byte {
	return e.appendTo(b, s, false)
}

// Start serialises e's start tag alone, as a stream header: the stream's
// content follows, and End closes it.
func (e *Element) Start(s Scope) string {
	return string(e.appendTo(nil, s, true))
}

// End is the end tag of an element whose start tag Start wrote.
func (e *Element) End() string {
	return string(e.appendEnd(nil))
}

func (e *Element) appendEnd(b []byte) []byte {
	b = append(b, "</"...)
	if e.Name.Space == NSStream {
		b = append(b, "stream:"...)
	}
	b = append(b, e.Name.Local...)
	return append(b, '>')
}

func (e *Element) appendTo(b []byte, s Scope, startOnly bool) []byte {
	// the element's own declarations bind for its name, attributes and content
	def, explicitDef := s.def, false
	for _, a := range e.Attr {
		switch {
		case a.Name.Space == NSXMLDecl:
			s.binds = append(s.binds, binding{a.Name.Local, a.Value})
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			def, explicitDef = a.Value, true
		}
	}
	b = append(b, '<')
	if e.Name.Space == NSStream { // written stream:name, as every XMPP peer expects
		b = append(b, "stream:"...)
		b = append(b, e.Name.Local...)
		if now, _ := s.lookup("stream"); now != NSStream {
			b = append(b, " xmlns:stream='"+NSStream+"'"...)
			s.binds = append(s.binds, binding{"stream", NSStream})
		}
		if explicitDef && def != s.def {
			b = appendAttr(b, "xmlns", def)
		}
	} else {
		b = append(b, e.Name.Local...)
		def = e.Name.Space
		if def != s.def {
			b = appendAttr(b, "xmlns", def)
		}
	}
	generated := 0
	for _, a := range e.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			continue // written above, from the element's name
		case a.Name.Space == NSXMLDecl:
			if a.Name.Local == "stream" && e.Name.Space == NSStream && a.Value != NSStream {
				continue // its own name needs stream: bound to the stream namespace (declared above)
			}
			b = append(b, " xmlns:"...)
		case a.Name.Space == "":
			b = append(b, ' ')
		case a.Name.Space == NSXML:
			b = append(b, " xml:"...)
		default:
			p, ok := s.prefixOf(a.Name.Space)
			if !ok {
				for {
					p = "a" + strconv.Itoa(generated)
					generated++
					if _, taken := s.lookup(p); !taken {
						break
					}
				}
				s.binds = append(s.binds, binding{p, a.Name.Space})
				b = appendAttr(b, "xmlns:"+p, a.Name.Space)
			}
			b = append(b, ' ')
			b = append(b, p...)
			b = append(b, ':')
		}
		b = append(b, a.Name.Local...)
		b = append(b, "='"...)
		b = AppendEscaped(b, a.Value)
		b = append(b, '\'')
	}
	if startOnly {
		return append(b, '>')
	}
	if len(e.Children) == 0 {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	inner := Scope{def: def, binds: s.binds}
	for _, n := range e.Children {
		switch n := n.(type) {
		case *Element:
			b = n.appendTo(b, inner, false)
		case CharData:
			b = AppendEscaped(b, string(n))
		case Raw:
			b = append(b, n...)
		}
	}
	return e.appendEnd(b)
}

// appendAttr appends " name='value'", the value escaped.
func appendAttr(b []byte, name, value string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, "='"...)
	b = AppendEscaped(b, value)
	return append(b, '\'')
}
