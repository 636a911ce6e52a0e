package oauth

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// FuzzTokens: whatever a client sends as an access or a refresh token,
// resolving it neither panics nor finds a token (none exists), forged
// sealed tokens included.
func FuzzTokens(f *testing.F) {
	dir := f.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "x.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	p, err := New(context.Background(), &Provider{Store: db, Secret: []byte("fuzz secret"), KeyDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := p.op.Crypto().Encrypt("no-such-id:hsubject")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{sealed, sealed[:len(sealed)/2], "", "pd_x", refreshPrefix + "x", "a:b", "eyJhbGciOiJub25lIn0.e30."} {
		f.Add(seed)
	}
	s := &storage{p: p}
	f.Fuzz(func(t *testing.T, token string) {
		ctx := context.Background()
		if tok, err := p.AccessToken(ctx, token); err == nil {
			t.Fatalf("%q resolved to access token %+v", token, tok)
		}
		if rt, err := s.refreshToken(ctx, token); err == nil {
			t.Fatalf("%q resolved to refresh token %+v", token, rt)
		}
		if _, _, err := s.GetRefreshTokenInfo(ctx, "app", token); err == nil {
			t.Fatalf("%q had refresh token info", token)
		}
	})
}

// FuzzStoredState: whatever the store holds as the signing key set or as
// a pending authorization request, reading it gives a typed error or
// what encoding gives back, never a panic.
func FuzzStoredState(f *testing.F) {
	set, err := rotated(nil, time.Unix(0, 0))
	if err != nil {
		f.Fatal(err)
	}
	a := &authRequest{id: "r", clientID: "app", scopes: []string{"openid"}, challenge: &oidc.CodeChallenge{Challenge: "c", Method: oidc.CodeChallengeMethodS256}}
	for _, seed := range [][]byte{set, encodeRequest(a), []byte("[]"), []byte(`[{"id":"x","key":"AAAA"}]`), []byte("{}"), nil} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if keys, err := parseKeys(b); err == nil {
			for _, k := range keys {
				if k.key == nil {
					t.Fatalf("%q parsed to a nil key", b)
				}
			}
		}
		if r, err := decodeRequest(store.AuthRequest{ID: "r", Data: b}); err == nil {
			again, err := decodeRequest(store.AuthRequest{ID: "r", Data: encodeRequest(r)})
			if err != nil || again.clientID != r.clientID || again.challenge.Challenge != r.challenge.Challenge {
				t.Fatalf("%q does not survive encoding: %v", b, err)
			}
		}
	})
}
