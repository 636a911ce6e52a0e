// Package vcard reads and writes address book entries as vCard 4.0
// (RFC 6350). It maps the properties presenced keeps (FN/N, EMAIL, TEL,
// NOTE, CATEGORIES, IMPP) and ignores the rest. A bad card is reported with
// its position and skipped; the good ones around it are kept.
package vcard

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/store"
)

// Limits of an import.
const (
	MaxLine  = 16 << 10 // one unfolded content line
	MaxCards = 100000
)

// Card is a parsed card and the line it starts on.
type Card struct {
	Index   int // 1-based position of the card in the file
	Line    int
	Contact store.Contact
}

// CardError reports a card that could not be read.
type CardError struct {
	Card int    `json:"card"` // 1-based position of the card in the file
	Line int    `json:"line"`
	Err  string `json:"error"`
}

func (e CardError) Error() string { return fmt.Sprintf("card %d (line %d): %s", e.Card, e.Line, e.Err) }

// Parse reads every card of r. It fails as a whole only if r cannot be read
// or holds more than MaxCards cards.
func Parse(r io.Reader) ([]Card, []CardError, error) {
	lines, err := unfold(r)
	if err != nil {
		return nil, nil, err
	}
	var (
		cards  []Card
		errs   []CardError
		cur    *Card
		curErr string
		n      int
	)
	for _, l := range lines {
		if l.text == "" {
			continue
		}
		name, params, value, perr := splitLine(l.text)
		switch {
		case perr == nil && name == "BEGIN" && strings.EqualFold(value, "VCARD"):
			if cur != nil {
				errs = append(errs, CardError{Card: n, Line: cur.Line, Err: "BEGIN:VCARD without END:VCARD before it"})
			}
			n++
			if n > MaxCards {
				return nil, nil, fmt.Errorf("more than %d cards", MaxCards)
			}
			cur, curErr = &Card{Index: n, Line: l.no}, ""
		case cur == nil:
			errs = append(errs, CardError{Card: n + 1, Line: l.no, Err: "content outside BEGIN:VCARD … END:VCARD"})
			n++ // a stray line counts as a (bad) card; dedupe merges a run of them
			continue
		case perr != nil:
			if curErr == "" {
				curErr = fmt.Sprintf("line %d: %v", l.no, perr)
			}
		case name == "END" && strings.EqualFold(value, "VCARD"):
			if curErr == "" {
				curErr = finish(&cur.Contact)
			}
			if curErr != "" {
				errs = append(errs, CardError{Card: n, Line: cur.Line, Err: curErr})
			} else {
				cards = append(cards, *cur)
			}
			cur = nil
		default:
			if err := apply(&cur.Contact, name, params, value); err != nil && curErr == "" {
				curErr = fmt.Sprintf("line %d: %v", l.no, err)
			}
		}
	}
	if cur != nil {
		errs = append(errs, CardError{Card: n, Line: cur.Line, Err: "missing END:VCARD"})
	}
	return cards, dedupe(errs), nil
}

// dedupe merges consecutive "outside" errors into one per stray run.
func dedupe(errs []CardError) []CardError {
	var out []CardError
	for _, e := range errs {
		if len(out) > 0 && e.Err == out[len(out)-1].Err && strings.HasPrefix(e.Err, "content outside") {
			continue
		}
		out = append(out, e)
	}
	return out
}

type line struct {
	no   int
	text string
}

// unfold joins continuation lines (RFC 6350 § 3.2).
func unfold(r io.Reader) ([]line, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), MaxLine)
	var out []line
	no := 0
	for sc.Scan() {
		no++
		t := strings.TrimSuffix(sc.Text(), "\r")
		if len(out) > 0 && (strings.HasPrefix(t, " ") || strings.HasPrefix(t, "\t")) {
			last := &out[len(out)-1]
			if len(last.text)+len(t) > MaxLine {
				return nil, fmt.Errorf("line %d: content line longer than %d bytes", no, MaxLine)
			}
			last.text += t[1:]
			continue
		}
		out = append(out, line{no: no, text: t})
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, fmt.Errorf("line %d: longer than %d bytes", no+1, MaxLine)
		}
		return nil, err
	}
	return out, nil
}

// splitLine parses "[group.]NAME *(;param) : value".
func splitLine(s string) (name string, params map[string]string, value string, err error) {
	if !utf8.ValidString(s) {
		return "", nil, "", fmt.Errorf("not valid UTF-8")
	}
	head, value, ok := cutUnquoted(s, ':')
	if !ok {
		return "", nil, "", fmt.Errorf("no ':' in content line")
	}
	parts := strings.Split(head, ";")
	name = strings.ToUpper(parts[0])
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	if name == "" {
		return "", nil, "", fmt.Errorf("empty property name")
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		if params == nil {
			params = map[string]string{}
		}
		params[strings.ToUpper(k)] = strings.Trim(v, `"`)
	}
	return name, params, value, nil
}

func cutUnquoted(s string, sep byte) (string, string, bool) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// unescape decodes RFC 6350 § 3.4 text escapes.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n', 'N':
				b.WriteByte('\n')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// splitList splits a comma-separated text list, honouring "\,".
func splitList(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == ',' {
			out = append(out, unescape(s[start:i]))
			start = i + 1
		}
	}
	return append(out, unescape(s[start:]))
}

func apply(c *store.Contact, name string, params map[string]string, value string) error {
	switch name {
	case "VERSION":
		if value != "4.0" && value != "3.0" {
			return fmt.Errorf("unsupported VERSION %q", clip(value))
		}
	case "FN":
		c.Name = unescape(value)
	case "N":
		if c.Name == "" { // FN wins; N is the fallback: family;given;additional;prefix;suffix
			f := strings.Split(value, ";")
			var given, family string
			family = unescape(f[0])
			if len(f) > 1 {
				given = unescape(f[1])
			}
			c.Name = strings.TrimSpace(given + " " + family)
		}
	case "EMAIL":
		c.Emails = append(c.Emails, unescape(value))
	case "TEL":
		c.Phones = append(c.Phones, strings.TrimPrefix(unescape(value), "tel:"))
	case "NOTE":
		if c.Notes != "" {
			c.Notes += "\n"
		}
		c.Notes += unescape(value)
	case "CATEGORIES":
		for _, g := range splitList(value) {
			if g = strings.TrimSpace(g); g != "" {
				c.Groups = append(c.Groups, g)
			}
		}
	case "IMPP":
		v := unescape(value)
		for _, scheme := range []string{"xmpp:", "presenced:"} {
			if strings.HasPrefix(strings.ToLower(v), scheme) && c.Address == "" {
				c.Address = v[len(scheme):]
			}
		}
	}
	return nil
}

// finish checks a complete card and returns why it is unusable, if it is.
func finish(c *store.Contact) string {
	if c.Name == "" && c.Address == "" && len(c.Emails) == 0 && len(c.Phones) == 0 {
		return "card has no FN, N, EMAIL, TEL or IMPP"
	}
	return ""
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// Write encodes contacts as vCard 4.0.
func Write(w io.Writer, cs []store.Contact) error {
	bw := bufio.NewWriter(w)
	for _, c := range cs {
		prop := func(name, value string) { bw.WriteString(fold(name + ":" + value)) }
		prop("BEGIN", "VCARD")
		prop("VERSION", "4.0")
		prop("UID", "urn:presenced:"+c.ID)
		prop("FN", escape(c.Name))
		for _, e := range c.Emails {
			prop("EMAIL", escape(e))
		}
		for _, t := range c.Phones {
			prop("TEL;VALUE=text", escape(t))
		}
		if c.Notes != "" {
			prop("NOTE", escape(c.Notes))
		}
		if len(c.Groups) > 0 {
			esc := make([]string, len(c.Groups))
			for i, g := range c.Groups {
				esc[i] = escape(g)
			}
			prop("CATEGORIES", strings.Join(esc, ","))
		}
		if c.Address != "" {
			prop("IMPP", "xmpp:"+c.Address)
		}
		prop("END", "VCARD")
	}
	return bw.Flush()
}

func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`, "\r\n", `\n`, "\n", `\n`).Replace(s)
}

// fold breaks a content line into 75-octet pieces without splitting a
// UTF-8 sequence (RFC 6350 § 3.2) and ends it with CRLF.
func fold(s string) string {
	var b bytes.Buffer
	width := 75
	for len(s) > width {
		cut := width
		for cut > width-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		width = 74 // the leading space counts
	}
	b.WriteString(s)
	b.WriteString("\r\n")
	return b.String()
}
