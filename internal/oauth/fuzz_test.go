package oauth

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/presenced/presenced/internal/store/sqlite"
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
