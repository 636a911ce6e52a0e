package xmlstream

import "unicode/utf8"

// AppendEscaped appends s escaped as XML character data or attribute
// value, exactly as encoding/xml's EscapeText escapes it (FuzzEscape
// checks this), without first copying s into a byte slice as EscapeText
// needs: quotes, ampersands and angle brackets become references, and so
// do tabs, newlines and carriage returns, so attribute values survive
// normalisation; what is not an XML character (and invalid UTF-8) becomes
// U+FFFD.
func AppendEscaped(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && c >= 0x20 && !asciiEscaped[c] { // most of what is written: plain ASCII
			i++
			continue
		}
		r, width := rune(c), 1
		if c >= utf8.RuneSelf {
			r, width = utf8.DecodeRuneInString(s[i:])
		}
		var esc string
		switch r {
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if isXMLChar(r) && !(r == utf8.RuneError && width == 1) {
				i += width
				continue
			}
			esc = "\uFFFD"
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		i += width
		last = i
	}
	return append(b, s[last:]...)
}

// asciiEscaped marks the printable ASCII bytes that AppendEscaped replaces.
var asciiEscaped = [utf8.RuneSelf]bool{'"': true, '\'': true, '&': true, '<': true, '>': true}

// isXMLChar: r may appear in an XML document (XML 1.0 § 2.2, Char).
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
