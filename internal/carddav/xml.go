package carddav

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits of a request body. A multiget naming every card of a full book
// (10,000 hrefs) fits in MaxBody.
const (
	MaxBody     = 2 << 20
	maxDepth    = 32
	maxElements = 50000
)

// BadXMLError is a request body that is not a small, plain XML document:
// malformed, too deep, too large, or carrying a DTD, entity declarations
// or processing instructions (the same restrictions as the XMPP parser:
// nothing that could expand or fetch).
type BadXMLError struct{ Reason string }

func (e *BadXMLError) Error() string { return "bad XML body: " + e.Reason }

// node is a parsed element: its name, children and direct text.
type node struct {
	xml.Name
	attrs    []xml.Attr
	children []*node
	text     strings.Builder
}

func (n *node) child(space, local string) *node {
	for _, c := range n.children {
		if c.Space == space && c.Local == local {
			return c
		}
	}
	return nil
}

func (n *node) all(space, local string) []*node {
	var out []*node
	for _, c := range n.children {
		if c.Space == space && c.Local == local {
			out = append(out, c)
		}
	}
	return out
}

// parseXML reads one document from b (already bounded by MaxBody).
func parseXML(b []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.Entity = nil // only the five predefined entities
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("charset %q: only UTF-8", label)
	}
	var (
		root  *node
		stack []*node
		count int
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &BadXMLError{Reason: se.Msg}
			}
			return nil, &BadXMLError{Reason: err.Error()}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, &BadXMLError{Reason: "more than one root element"}
			}
			count++
			if count > maxElements || len(stack) >= maxDepth {
				return nil, &BadXMLError{Reason: "too many or too deeply nested elements"}
			}
			n := &node{Name: t.Name, attrs: t.Attr}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, &BadXMLError{Reason: "text outside the root element"}
			}
		case xml.Directive:
			return nil, &BadXMLError{Reason: "DTDs and entity declarations are not accepted"}
		case xml.ProcInst:
			if t.Target != "xml" || root != nil {
				return nil, &BadXMLError{Reason: "processing instructions are not accepted"}
			}
		case xml.Comment:
		}
	}
	if root == nil {
		return nil, &BadXMLError{Reason: "no root element"}
	}
	return root, nil
}
