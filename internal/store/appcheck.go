package store

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of an app's texts.
const (
	MaxAppName        = 100  // characters
	MaxAppDescription = 1000 // characters
	MaxURL            = 2000 // bytes, of a redirect URI or a logo URL
)

// ValidateApp checks an app as an operator (presenced app add) or a
// developer registers it, before it is stored: every problem is named in
// the error, which is meant for the person registering it.
func ValidateApp(a App) error {
	var errs []error
	if a.ID == "" || len(a.ID) > 128 || strings.TrimLeft(a.ID, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		errs = append(errs, fmt.Errorf("app ID %q: 1 to 128 letters, digits, '-' and '_'", a.ID))
	}
	if err := checkText("name", a.Name, MaxAppName); err != nil {
		errs = append(errs, err)
	} else if strings.TrimSpace(a.Name) == "" {
		errs = append(errs, errors.New("an app needs a name, shown on the consent page"))
	}
	if err := checkText("description", a.Description, MaxAppDescription); err != nil {
		errs = append(errs, err)
	}
	switch {
	case len(a.RedirectURIs) == 0:
		errs = append(errs, errors.New("an app needs at least one redirect URI"))
	case len(a.RedirectURIs) > MaxListLen:
		errs = append(errs, fmt.Errorf("%d redirect URIs: at most %d", len(a.RedirectURIs), MaxListLen))
	}
	for _, u := range a.RedirectURIs {
		if err := ValidRedirectURI(u); err != nil {
			errs = append(errs, err)
		}
	}
	if len(a.Scopes) > MaxListLen {
		errs = append(errs, fmt.Errorf("%d scopes: at most %d", len(a.Scopes), MaxListLen))
	}
	for _, s := range a.Scopes {
		if !slices.Contains(KnownScopes, s) {
			errs = append(errs, fmt.Errorf("unknown scope %q (known: %s)", s, strings.Join(KnownScopes, " ")))
		}
	}
	if a.Logo != "" {
		if u, err := url.Parse(a.Logo); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || len(a.Logo) > MaxURL {
			errs = append(errs, fmt.Errorf("logo %q: must be an https URL", a.Logo))
		}
	}
	if a.Public != (a.SecretHash == nil) {
		errs = append(errs, errors.New("a public app has no secret, a confidential one has one"))
	}
	return errors.Join(errs...)
}

func checkText(what, s string, max int) error {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max || strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("%s: at most %d characters of text, without control characters", what, max)
	}
	return nil
}

// ValidRedirectURI checks an app's redirect URI (OAuth 2.1 § 2.3, § 8.4.2):
// an absolute https URL, or http on a loopback host for native apps; no
// fragment, no user info.
func ValidRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > MaxURL {
		return fmt.Errorf("redirect URI %q: not a URL", raw)
	}
	switch {
	case !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("redirect URI %q: must be an absolute URL (https://app.example/callback)", raw)
	case strings.Contains(raw, "#"):
		return fmt.Errorf("redirect URI %q: must not have a fragment", raw)
	case u.User != nil:
		return fmt.Errorf("redirect URI %q: must not hold a user name or password", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("redirect URI %q: must be https, or http on a loopback host (127.0.0.1, [::1], localhost)", raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback))
}
