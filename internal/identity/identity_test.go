package identity_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/identity"
	"github.com/presenced/presenced/internal/identity/oidctest"
)

// counting counts the requests for the providers' key sets.
type counting struct{ keys atomic.Int64 }

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/keys") {
		c.keys.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func newSet(t *testing.T, idp *oidctest.Issuer, refresh time.Duration) (*identity.Set, *counting) {
	c := &counting{}
	s := identity.New(&identity.Set{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), BaseURL: func() string { return "http://127.0.0.1:1" },
		HTTP: &http.Client{Transport: c, Timeout: 10 * time.Second}, KeyRefresh: refresh},
		[]config.IdentityProvider{{Name: "IdP", Issuer: idp.URL, ClientID: "presenced", ClientSecret: "s"}})
	return s, c
}

// TestKeysRefreshedOnUnknownKeyID: the provider's keys are fetched once
// and kept; a token naming a key the cache lacks (the provider rotated)
// fetches them again, but no more often than the refresh interval, however
// many tokens with made-up key IDs come.
func TestKeysRefreshedOnUnknownKeyID(t *testing.T) {
	idp := oidctest.Start(t)
	u := oidctest.User{Subject: "s1"}
	ctx := context.Background()

	s, c := newSet(t, idp, time.Nanosecond)
	for range 3 {
		if _, err := s.VerifyIDToken(ctx, idp.URL, idp.IDToken(t, u, "presenced", time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.keys.Load(); n != 1 {
		t.Fatalf("%d key set fetches for three tokens of one key, want 1", n)
	}
	idp.Rotate(t)
	if _, err := s.VerifyIDToken(ctx, idp.URL, idp.IDToken(t, u, "presenced", time.Hour)); err != nil {
		t.Fatalf("a token of the rotated key: %v", err)
	}
	if n := c.keys.Load(); n != 2 {
		t.Fatalf("%d key set fetches after a rotation, want 2", n)
	}

	slow, c := newSet(t, idp, time.Hour)
	if _, err := slow.VerifyIDToken(ctx, idp.URL, idp.IDToken(t, u, "presenced", time.Hour)); err != nil {
		t.Fatal(err)
	}
	other := oidctest.Start(t) // signs with its own keys, under made-up key IDs
	for range 20 {
		other.Rotate(t)
		claims := oidctest.Claims{Issuer: idp.URL, Subject: "s1", Audience: []string{"presenced"}, IssuedAt: time.Now().Unix(), Expiry: time.Now().Add(time.Hour).Unix()}
		if _, err := slow.VerifyIDToken(ctx, idp.URL, other.Sign(t, claims)); err == nil {
			t.Fatal("a token of an unknown key verified")
		}
	}
	if n := c.keys.Load(); n != 1 {
		t.Fatalf("%d key set fetches for 20 unknown key IDs within the refresh interval, want 1", n)
	}
}

// TestEmailAddress: a verified, plain-ASCII e-mail names the address it
// equals but for letter case; nothing else names one.
func TestEmailAddress(t *testing.T) {
	for _, tc := range []struct {
		email    string
		verified bool
		want     string
	}{
		{"alice@example.org", true, "alice@example.org"},
		{"Alice@Example.ORG", true, "alice@example.org"},
		{"alice@example.org", false, ""},
		{"", true, ""},
		{"ａｌｉｃｅ@example.org", true, ""}, // full-width: an address would fold it to alice
		{"alice@exämple.org", true, ""},
		{"al ice@example.org", true, ""},
		{"alice", true, ""},
		{"alice@example.org/phone", true, ""},
	} {
		got, ok := identity.EmailAddress(tc.email, tc.verified)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%q (verified %v): %q %v, want %q", tc.email, tc.verified, got, ok, tc.want)
		}
	}
}
