// Package addr parses and normalizes presenced addresses: "local@domain" for an
// account (bare) and "local@domain/resource" for one session (full).
package addr

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid address")

// Limits from RFC 7622 (each part at most 1023 bytes); we are stricter on
// the local part and resource to keep memory per session small.
const (
	maxLocal    = 64
	maxDomain   = 253
	maxResource = 128
)

// Bare validates and normalizes an account address. The local part is
// prepared with RFC 8265's UsernameCaseMapped profile, as RFC 7622 asks
// (width and case mapped, so "ＡＬＩＣＥ" is "alice"), then held to a stricter
// subset: ASCII letters, digits and . _ - +. The domain is an ASCII DNS
// name, lower-cased (internationalized domains are not served).
func Bare(s string) (string, error) {
	local, domain, ok := strings.Cut(s, "@")
	if !ok {
		return "", fmt.Errorf("%w: %q has no @", ErrInvalid, clip(s))
	}
	if len(local) <= maxLocal*4 { // the profile works on bounded input only
		if prepared, err := precis.UsernameCaseMapped.String(local); err == nil {
			local = prepared
		}
	}
	local, domain = strings.ToLower(local), strings.ToLower(domain)
	if err := checkLocal(local); err != nil {
		return "", err
	}
	if err := Domain(domain); err != nil {
		return "", err
	}
	return local + "@" + domain, nil
}

// Full validates "local@domain/resource" and returns the normalized bare
// address and the resource.
func Full(s string) (bare, resource string, err error) {
	b, r, ok := strings.Cut(s, "/")
	if !ok || r == "" {
		return "", "", fmt.Errorf("%w: %q has no resource", ErrInvalid, clip(s))
	}
	if bare, err = Bare(b); err != nil {
		return "", "", err
	}
	if err := Resource(r); err != nil {
		return "", "", err
	}
	return bare, r, nil
}

// Parse accepts a bare or a full address; resource is empty for a bare one.
func Parse(s string) (bare, resource string, err error) {
	if strings.Contains(s, "/") {
		return Full(s)
	}
	bare, err = Bare(s)
	return bare, "", err
}

// Domain checks a DNS name (or "localhost").
func Domain(d string) error {
	if d == "" || len(d) > maxDomain {
		return fmt.Errorf("%w: domain must be 1 to %d bytes", ErrInvalid, maxDomain)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%w: bad domain label in %q", ErrInvalid, clip(d))
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%w: domain %q has %q", ErrInvalid, clip(d), c)
			}
		}
	}
	return nil
}

func checkLocal(l string) error {
	if l == "" || len(l) > maxLocal {
		return fmt.Errorf("%w: local part must be 1 to %d bytes", ErrInvalid, maxLocal)
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("._-+", c)) {
			return fmt.Errorf("%w: local part has %q", ErrInvalid, c)
		}
	}
	return nil
}

// Resource checks a session's resource: RFC 7622 prepares resources with
// RFC 8265's OpaqueString profile; it must already be in that form (NFC,
// no control or unassigned characters), and without '/' or '@'.
func Resource(r string) error {
	if r == "" || len(r) > maxResource || !utf8.ValidString(r) {
		return fmt.Errorf("%w: resource must be 1 to %d bytes of UTF-8", ErrInvalid, maxResource)
	}
	if prepared, err := precis.OpaqueString.String(r); err != nil || prepared != r {
		return fmt.Errorf("%w: resource %q is not in PRECIS OpaqueString form", ErrInvalid, clip(r))
	}
	for _, c := range r {
		if c < 0x20 || c == 0x7f || c == '/' || c == '@' {
			return fmt.Errorf("%w: resource has %q", ErrInvalid, c)
		}
	}
	return nil
}

// Qualify makes a user name without @ an address of domain (the primary
// domain of a server that hosts several, where a bare name is meant); an
// address with @, and any name when domain is empty, is left as it is.
func Qualify(name, domain string) string {
	if domain == "" || strings.Contains(name, "@") {
		return name
	}
	return name + "@" + domain
}

// DomainOf returns the domain of a valid bare address.
func DomainOf(bare string) string {
	_, d, _ := strings.Cut(bare, "@")
	return d
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
