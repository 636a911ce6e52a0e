// Package vcard reads and writes address book entries as vCard 4.0
// (RFC 6350) and 3.0 (RFC 2426). It maps the properties presenced
// interprets (FN/N, EMAIL, TEL, NOTE, CATEGORIES, IMPP) to contact fields
// and keeps every content line of a card in store.Contact.Card, so a card
// read back equals the card written, property for property; a change of
// fields (from REST or XMPP) replaces only the lines that said otherwise
// (Lines). A bad card is reported with its position and skipped; the good
// ones around it are kept.
package vcard

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/store"
)

// Limits of an import.
const (
	MaxLine  = 16 << 10 // one unfolded content line
	MaxCards = 100000
)

// MaxCard bounds one card stored over CardDAV, a photo included.
const MaxCard = 256 << 10

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
	return parse(r, MaxLine)
}

func parse(r io.Reader, maxLine int) ([]Card, []CardError, error) {
	lines, err := unfold(r, maxLine)
	if err != nil {
		return nil, nil, err
	}
	var (
		cards  []Card
		errs   []CardError
		cur    *Card
		curErr string
		raw    []string
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
			cur, curErr, raw = &Card{Index: n, Line: l.no}, "", raw[:0]
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
				cur.Contact.Card = strings.Join(raw, "\r\n")
				cards = append(cards, *cur)
			}
			cur = nil
		default:
			if err := apply(&cur.Contact, name, params, value); err != nil && curErr == "" {
				curErr = fmt.Sprintf("line %d: %v", l.no, err)
			}
			raw = append(raw, l.text)
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
func unfold(r io.Reader, maxLine int) ([]line, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	var out []line
	no := 0
	for sc.Scan() {
		no++
		t := strings.TrimSuffix(sc.Text(), "\r")
		if len(out) > 0 && (strings.HasPrefix(t, " ") || strings.HasPrefix(t, "\t")) {
			last := &out[len(out)-1]
			if len(last.text)+len(t) > maxLine {
				return nil, fmt.Errorf("line %d: content line longer than %d bytes", no, maxLine)
			}
			last.text += t[1:]
			continue
		}
		out = append(out, line{no: no, text: t})
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, fmt.Errorf("line %d: longer than %d bytes", no+1, maxLine)
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
	if i := strings.IndexFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }); i >= 0 {
		return "", nil, "", fmt.Errorf("control character %U in content line", s[i])
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

// Write encodes contacts as vCards: the lines of Lines, folded.
func Write(w io.Writer, cs []store.Contact) error {
	bw := bufio.NewWriter(w)
	for _, c := range cs {
		bw.WriteString(Encode(c))
	}
	return bw.Flush()
}

// Encode is one contact as a vCard, folded, CRLF-terminated.
func Encode(c store.Contact) string {
	var b strings.Builder
	b.WriteString("BEGIN:VCARD\r\n")
	for _, l := range Lines(c) {
		b.WriteString(fold(l))
	}
	b.WriteString("END:VCARD\r\n")
	return b.String()
}

// Lines is the contact's vCard content lines between BEGIN and END,
// unfolded. A contact with no stored card is written as vCard 4.0 from its
// fields. One with a card is its card's lines, except where the fields now
// say otherwise: a changed name replaces FN and N, an e-mail or phone no
// longer listed drops its line and a new one is added, changed notes,
// groups or presence address replace NOTE, CATEGORIES or the xmpp: IMPP.
// So lines a client wrote that presenced does not interpret (PHOTO, ADR,
// UID, X-…, the parameters of an e-mail) stay as written.
func Lines(c store.Contact) []string {
	if c.Card == "" {
		return generate(c)
	}
	raw := strings.Split(c.Card, "\r\n")
	var was store.Contact
	version, hasVersion := "4.0", false
	for _, l := range raw {
		name, params, value, err := splitLine(l)
		if err != nil {
			continue
		}
		apply(&was, name, params, value)
		if name == "VERSION" {
			version, hasVersion = value, true
		}
	}
	sameName := was.Name == c.Name
	emails := multiset(c.Emails)
	phones := multiset(c.Phones)
	var out []string
	if !hasVersion {
		out = append(out, "VERSION:4.0") // RFC 6350 § 3.7.9: right after BEGIN
	}
	seen := map[string]bool{}
	for _, l := range raw {
		name, params, value, err := splitLine(l)
		if err != nil {
			out = append(out, l)
			continue
		}
		var one store.Contact
		apply(&one, name, params, value)
		first := !seen[name]
		seen[name] = true
		switch {
		case name == "FN" && !sameName:
			if first && c.Name != "" {
				out = append(out, "FN:"+escape(c.Name))
			}
		case name == "N" && !sameName:
			if first {
				out = append(out, "N:"+structuredName(c.Name))
			}
		case name == "EMAIL":
			if take(emails, one.Emails) {
				out = append(out, l)
			}
		case name == "TEL":
			if take(phones, one.Phones) {
				out = append(out, l)
			}
		case name == "NOTE" && was.Notes != c.Notes:
			if first && c.Notes != "" {
				out = append(out, "NOTE:"+escape(c.Notes))
			}
		case name == "CATEGORIES" && !slices.Equal(was.Groups, c.Groups):
			if first && len(c.Groups) > 0 {
				out = append(out, categories(c.Groups))
			}
		case name == "IMPP" && one.Address != "" && was.Address != c.Address:
			if !seen["IMPP:xmpp"] && c.Address != "" {
				out = append(out, "IMPP:xmpp:"+c.Address)
			}
			seen["IMPP:xmpp"] = true
		default:
			out = append(out, l)
		}
		if name == "IMPP" && one.Address != "" {
			seen["IMPP:xmpp"] = true
		}
	}
	if !sameName && !seen["FN"] && c.Name != "" {
		out = append(out, "FN:"+escape(c.Name))
	}
	for _, e := range c.Emails {
		if emails[e] > 0 {
			emails[e]--
			out = append(out, "EMAIL:"+escape(e))
		}
	}
	for _, t := range c.Phones {
		if phones[t] > 0 {
			phones[t]--
			out = append(out, tel(version, t))
		}
	}
	if !seen["NOTE"] && c.Notes != "" {
		out = append(out, "NOTE:"+escape(c.Notes))
	}
	if !seen["CATEGORIES"] && len(c.Groups) > 0 {
		out = append(out, categories(c.Groups))
	}
	if !seen["IMPP:xmpp"] && c.Address != "" {
		out = append(out, "IMPP:xmpp:"+c.Address)
	}
	return out
}

// generate writes a contact that has no stored card, as vCard 4.0.
func generate(c store.Contact) []string {
	out := []string{"VERSION:4.0", "UID:urn:presenced:" + c.ID, "FN:" + escape(c.Name)}
	for _, e := range c.Emails {
		out = append(out, "EMAIL:"+escape(e))
	}
	for _, t := range c.Phones {
		out = append(out, tel("4.0", t))
	}
	if c.Notes != "" {
		out = append(out, "NOTE:"+escape(c.Notes))
	}
	if len(c.Groups) > 0 {
		out = append(out, categories(c.Groups))
	}
	if c.Address != "" {
		out = append(out, "IMPP:xmpp:"+c.Address)
	}
	return out
}

func tel(version, t string) string {
	if version == "3.0" {
		return "TEL:" + escape(t)
	}
	return "TEL;VALUE=text:" + escape(t)
}

func categories(groups []string) string {
	esc := make([]string, len(groups))
	for i, g := range groups {
		esc[i] = escape(g)
	}
	return "CATEGORIES:" + strings.Join(esc, ",")
}

// structuredName is N for a changed name: the last word as the family
// name, the rest as given names (a guess; FN is what presenced shows).
func structuredName(name string) string {
	name = strings.TrimSpace(name)
	i := strings.LastIndexByte(name, ' ')
	if i < 0 {
		return escape(name) + ";;;;"
	}
	return escape(name[i+1:]) + ";" + escape(strings.TrimSpace(name[:i])) + ";;;"
}

func multiset(vs []string) map[string]int {
	m := map[string]int{}
	for _, v := range vs {
		m[v]++
	}
	return m
}

// take reports whether the one value a line holds is still wanted, and
// counts it as written.
func take(m map[string]int, vs []string) bool {
	if len(vs) != 1 || m[vs[0]] == 0 {
		return false
	}
	m[vs[0]]--
	return true
}

// ParseCard reads one card, a CardDAV resource: at most MaxCard bytes,
// vCard 4.0 or 3.0, exactly one BEGIN:VCARD … END:VCARD. The contact's
// Card holds all its content lines.
func ParseCard(b []byte) (store.Contact, error) {
	if len(b) > MaxCard {
		return store.Contact{}, &CardError{Card: 1, Err: fmt.Sprintf("card larger than %d KiB", MaxCard>>10)}
	}
	if !utf8.Valid(b) {
		return store.Contact{}, &CardError{Card: 1, Err: "not valid UTF-8"}
	}
	cards, errs, err := parse(bytes.NewReader(b), MaxCard)
	switch {
	case err != nil:
		return store.Contact{}, &CardError{Card: 1, Err: err.Error()}
	case len(errs) > 0:
		return store.Contact{}, &errs[0]
	case len(cards) != 1:
		return store.Contact{}, &CardError{Card: len(cards), Err: "a resource holds exactly one card"}
	}
	return cards[0].Contact, nil
}

func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`).Replace(s)
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
