package xmlstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unique"
)

// NSStream is the namespace of the stream's own elements.
const NSStream = "http://etherx.jabber.org/streams"

// StreamError is a reason to close the stream (RFC 6120 § 4.9.3).
type StreamError struct {
	Condition string // "not-well-formed", "restricted-xml", "policy-violation", "invalid-namespace", …
	Text      string
}

func (e *StreamError) Error() string { return "stream error " + e.Condition + ": " + e.Text }

func streamErr(condition, format string, args ...any) *StreamError {
	return &StreamError{Condition: condition, Text: fmt.Sprintf(format, args...)}
}

// ErrClosed is returned by Next when the peer closed its stream.
var ErrClosed = errors.New("stream closed by peer")

// Limits bound what one stanza may hold.
type Limits struct {
	MaxStanza int // bytes of one top-level element, tags included
	MaxDepth  int // nesting below the stream element
	MaxAttrs  int // attributes of one element
}

// DefaultLimits suit client-to-server streams.
var DefaultLimits = Limits{MaxStanza: 256 << 10, MaxDepth: 32, MaxAttrs: 32}

// Element is a parsed XML element.
type Element struct {
	Name     xml.Name
	Attr     []xml.Attr
	Children []Node
}

// Node is an *Element or a CharData.
type Node interface{}

// CharData is text inside an element.
type CharData string

// AttrValue returns the value of the attribute local (in no namespace), or "".
func (e *Element) AttrValue(local string) string {
	for _, a := range e.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// HasAttr reports whether the element has the attribute local (in no
// namespace), even empty.
func (e *Element) HasAttr(local string) bool {
	for _, a := range e.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return true
		}
	}
	return false
}

// Child returns the first child element with the given namespace and local
// name, or nil.
func (e *Element) Child(space, local string) *Element {
	for _, n := range e.Children {
		if c, ok := n.(*Element); ok && c.Name.Space == space && c.Name.Local == local {
			return c
		}
	}
	return nil
}

// ChildText is the text of the first child with the given namespace and
// local name, or "" if there is none.
func (e *Element) ChildText(space, local string) string {
	if c := e.Child(space, local); c != nil {
		return c.Text()
	}
	return ""
}

// Text is the concatenated character data directly inside e.
func (e *Element) Text() string {
	var b bytes.Buffer
	for _, n := range e.Children {
		if t, ok := n.(CharData); ok {
			b.WriteString(string(t))
		}
	}
	return b.String()
}

// budget is the decoder's input: an io.ByteReader (so encoding/xml adds no
// buffer of its own) that refuses to deliver more than its allowance, the
// hard cap behind the stanza size limit, since encoding/xml buffers a whole
// text token or tag before we see it. Its read buffer comes from a pool and
// goes back as soon as it is drained, so an idle stream holds none. It
// counts down (left) rather than keeping what it delivered and a limit:
// it lives inside every idle stream's Reader.
type budget struct {
	r    io.Reader
	left int64   // bytes it may still deliver
	buf  *[]byte // pooled; nil when drained
	pos  int     // next byte of *buf
	n    int     // bytes in *buf
}

var errBudget = errors.New("stanza budget exhausted")

const bufSize = 2048

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func (b *budget) ReadByte() (byte, error) {
	if b.left <= 0 {
		return 0, errBudget
	}
	if err := b.fill(); err != nil {
		return 0, err
	}
	c := (*b.buf)[b.pos]
	b.left--
	b.advance()
	return c, nil
}

// fill reads into an empty buffer (waiting for bytes); it does nothing
// when bytes are buffered.
func (b *budget) fill() error {
	if b.buf != nil {
		return nil
	}
	buf := bufPool.Get().(*[]byte)
	n, err := b.r.Read(*buf)
	if n == 0 {
		bufPool.Put(buf)
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	b.buf, b.pos, b.n = buf, 0, n
	return nil
}

// advance moves past one buffered byte, giving the buffer back once it is
// drained.
func (b *budget) advance() {
	b.pos++
	if b.pos == b.n {
		if cap(*b.buf) == bufSize { // compacted remainders are not the pool's
			bufPool.Put(b.buf)
		}
		b.buf = nil
	}
}

// compact gives the pooled buffer back, keeping what is left of it (the
// start of the client's next stanza, most often nothing) in a slice of its
// own size: called between stanzas, when the stream may go idle.
func (b *budget) compact() {
	if b.buf == nil || cap(*b.buf) != bufSize {
		return
	}
	rest := append([]byte(nil), (*b.buf)[b.pos:b.n]...)
	bufPool.Put(b.buf)
	b.buf, b.pos, b.n = &rest, 0, len(rest)
}

// Read serves what is buffered first (encoding/xml only uses ReadByte).
func (b *budget) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := b.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		p[n] = c
		n++
		if b.buf == nil {
			break
		}
	}
	return n, nil
}

// readAhead is how far encoding/xml may read beyond the current stanza.
const readAhead = 4096

// Reader reads one XML stream. Every idle stream holds one, so its input
// budget is part of it rather than an allocation of its own (TestReaderSize
// guards its size); a Reader must not be copied once made, since its
// decoder reads from that field.
type Reader struct {
	lim    Limits
	in     budget
	dec    *xml.Decoder // nil while resting (Rest)
	header string       // the stream header as declared, for a decoder made anew; "" until Open read it
}

// NewReader reads a stream from r.
func NewReader(r io.Reader, lim Limits) *Reader {
	rd := &Reader{lim: lim, in: budget{r: r, left: int64(lim.MaxStanza + readAhead)}}
	rd.dec = newDecoder(&rd.in)
	return rd
}

// opened: the stream header was read (Open).
func (r *Reader) opened() bool { return r.header != "" }

// noEntities is every decoder's Entity map: only the five predefined
// entities. One for all (encoding/xml only reads it): a login makes five
// decoders.
var noEntities = map[string]string{}

func newDecoder(in io.Reader) *xml.Decoder {
	dec := xml.NewDecoder(in)
	dec.Strict = true
	dec.Entity = noEntities
	return dec
}

// Rest drops the decoder (its buffers and namespace stack) between two
// top-level elements, for a stream about to wait idle; the next read makes
// a new one, primed with the stream header's namespace declarations.
func (r *Reader) Rest() {
	if r.opened() && r.Buffered() == 0 {
		r.dec = nil
	}
}

// wake makes the decoder anew after Rest: it reads the stream header
// again, from memory, then the input (the header alone: it never reads
// the input, so it cannot fail but by a bug).
func (r *Reader) wake() error {
	r.dec = newDecoder(&primed{header: r.header, in: &r.in})
	for {
		t, err := r.dec.Token()
		if err != nil {
			return err
		}
		if _, ok := t.(xml.StartElement); ok {
			return nil
		}
	}
}

// primed reads a header from memory, then the budget.
type primed struct {
	header string
	in     *budget
}

func (p *primed) ReadByte() (byte, error) {
	if len(p.header) > 0 {
		c := p.header[0]
		p.header = p.header[1:]
		return c, nil
	}
	return p.in.ReadByte()
}

func (p *primed) Read(b []byte) (int, error) {
	if len(p.header) > 0 {
		n := copy(b, p.header)
		p.header = p.header[n:]
		return n, nil
	}
	return p.in.Read(b)
}

// declared is the start tag of the stream header st with its namespace
// declarations, as the client wrote them.
func declared(st xml.StartElement) string {
	el := New(st.Name.Space, st.Name.Local)
	for _, a := range st.Attr {
		switch {
		case a.Name.Space == "xmlns":
			el.Declare(a.Name.Local, a.Value)
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			el.Declare("", a.Value)
		}
	}
	return el.Start(Standalone)
}

// token reads the next token, turning decoder failures into stream errors.
// It is not copied (xml.CopyToken): a CharData's bytes are the decoder's
// until the next call, and every caller either converts them to a string
// or looks at them before reading on; a StartElement's attributes are
// made anew for each by the decoder.
func (r *Reader) token() (xml.Token, error) {
	t, err := r.dec.Token() // resolves namespaces and checks end tags match
	switch {
	case err == nil:
	case errors.Is(err, errBudget):
		return nil, streamErr("policy-violation", "stanza larger than %d bytes", r.lim.MaxStanza)
	case errors.Is(err, io.EOF):
		return nil, io.EOF
	default:
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return nil, streamErr("not-well-formed", "%s", se.Msg)
		}
		return nil, err // the connection failed
	}
	switch t := t.(type) {
	case xml.Comment:
		return nil, streamErr("restricted-xml", "comments are not allowed")
	case xml.Directive:
		return nil, streamErr("restricted-xml", "DTDs and other directives are not allowed")
	case xml.ProcInst:
		if t.Target != "xml" || r.opened() {
			return nil, streamErr("restricted-xml", "processing instructions are not allowed")
		}
	}
	return t, nil
}

// Buffered is how many bytes were read from the input and not parsed yet.
func (r *Reader) Buffered() int {
	if r.in.buf == nil {
		return 0
	}
	return r.in.n - r.in.pos
}

// Fill waits for bytes from the input when none are buffered.
func (r *Reader) Fill() error { return r.in.fill() }

// Unread puts p, bytes read from the input by someone else, before what
// the reader reads next; nothing may be buffered.
func (r *Reader) Unread(p []byte) {
	if r.Buffered() > 0 {
		panic("xmlstream: Unread with bytes buffered")
	}
	rest := append([]byte(nil), p...)
	r.in.buf, r.in.pos, r.in.n = &rest, 0, len(rest)
}

// SkipSpace consumes the whitespace buffered between two top-level
// elements (keepalives, RFC 6120 § 4.6.1), so that a stream whose client
// sent only that has nothing left to parse: it may wait without a reader
// goroutine, where the decoder would have waited inside a text token for
// the byte after it. Only between elements, after Open. Skipped bytes do
// not count against the next stanza's size.
func (r *Reader) SkipSpace() {
	for b := &r.in; b.buf != nil; b.advance() {
		switch (*b.buf)[b.pos] {
		case ' ', '\t', '\r', '\n':
		default:
			return
		}
	}
}

// SetInput replaces the underlying reader (to wrap it, say with deadlines)
// without losing what the decoder has buffered.
func (r *Reader) SetInput(in io.Reader) { r.in.r = in }

// Open reads the stream header (after an optional XML declaration) and
// returns it, names resolved.
func (r *Reader) Open() (xml.StartElement, error) {
	for {
		t, err := r.token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := t.(type) {
		case xml.ProcInst:
			continue // the XML declaration
		case xml.CharData:
			if len(bytes.TrimSpace(t)) == 0 {
				continue
			}
			return xml.StartElement{}, streamErr("not-well-formed", "text before the stream header")
		case xml.StartElement:
			r.header = unique.Make(declared(t)).Value() // held while the stream lives: one copy for all alike
			r.in.compact()
			if t.Name.Space != NSStream || t.Name.Local != "stream" {
				return t, streamErr("invalid-namespace", "the stream must open with <stream:stream xmlns:stream='%s'>", NSStream)
			}
			return t, nil
		default:
			return xml.StartElement{}, streamErr("not-well-formed", "unexpected %T before the stream header", t)
		}
	}
}

// Next reads the next top-level element. Whitespace between elements (as
// keepalives) is skipped. It returns ErrClosed at </stream:stream>.
func (r *Reader) Next() (*Element, error) {
	if r.dec == nil {
		if err := r.wake(); err != nil {
			return nil, err
		}
	}
	r.in.left = int64(r.lim.MaxStanza + readAhead)
	for {
		start := r.dec.InputOffset() // before the stanza's start tag
		t, err := r.token()
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, streamErr("not-well-formed", "text at the top level of the stream")
			}
		case xml.EndElement:
			return nil, ErrClosed
		case xml.StartElement:
			el, err := r.element(t, 1, start)
			r.in.compact()
			return el, err
		}
	}
}

// checkSize fails once the stanza that began at offset start is too big.
func (r *Reader) checkSize(start int64) error {
	if r.dec.InputOffset()-start > int64(r.lim.MaxStanza) {
		return streamErr("policy-violation", "stanza larger than %d bytes", r.lim.MaxStanza)
	}
	return nil
}

// element reads the rest of an element whose start tag was just read.
func (r *Reader) element(st xml.StartElement, depth int, start int64) (*Element, error) {
	if depth > r.lim.MaxDepth {
		return nil, streamErr("policy-violation", "elements nested deeper than %d", r.lim.MaxDepth)
	}
	if len(st.Attr) > r.lim.MaxAttrs {
		return nil, streamErr("policy-violation", "more than %d attributes on <%s>", r.lim.MaxAttrs, st.Name.Local)
	}
	el := &Element{Name: st.Name, Attr: resolved(st.Attr)}
	for {
		if err := r.checkSize(start); err != nil {
			return nil, err
		}
		t, err := r.token()
		if errors.Is(err, io.EOF) {
			return nil, streamErr("not-well-formed", "stream ended inside <%s>", st.Name.Local)
		}
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			child, err := r.element(t, depth+1, start)
			if err != nil {
				return nil, err
			}
			el.Children = append(el.Children, child)
		case xml.CharData:
			el.Children = append(el.Children, CharData(t))
		case xml.EndElement:
			if err := r.checkSize(start); err != nil {
				return nil, err
			}
			return el, nil
		}
	}
}

// resolved drops namespace declarations: names are resolved already, and
// the writer declares what it writes (a relayed stanza does not carry the
// sender's declarations, right or wrong, to its recipients).
func resolved(attrs []xml.Attr) []xml.Attr {
	out := attrs[:0]
	for _, a := range attrs {
		if a.Name.Space == NSXMLDecl || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Parse reads one element from a string, as if it were a stanza of a
// jabber:client stream (for tests and fixed documents).
func Parse(s string) (*Element, error) {
	r := NewReader(strings.NewReader(`<stream:stream xmlns='jabber:client' xmlns:stream='`+NSStream+`'>`+s), DefaultLimits)
	if _, err := r.Open(); err != nil {
		return nil, err
	}
	return r.Next()
}
