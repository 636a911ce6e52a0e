package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// testSecrets: the first value created is the one every later create
// returns; replaced only from the value held.
func testSecrets(t *testing.T, s store.Store) {
	_, err := s.Secret(ctx, "server")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.ReplaceSecret(ctx, "server", nil, []byte("x")), store.ErrNotFound)
	got, err := s.CreateSecret(ctx, "server", []byte("first"))
	must(t, err)
	wantBytes(t, got, "first")
	got, err = s.CreateSecret(ctx, "server", []byte("second"))
	must(t, err)
	wantBytes(t, got, "first")
	wantErr(t, s.ReplaceSecret(ctx, "server", []byte("second"), []byte("third")), store.ErrConflict)
	must(t, s.ReplaceSecret(ctx, "server", []byte("first"), []byte("third")))
	got, err = s.Secret(ctx, "server")
	must(t, err)
	wantBytes(t, got, "third")
	_, err = s.Secret(ctx, "other")
	wantErr(t, err, store.ErrNotFound)
}

// testSecretsRace: nodes starting at once all get the one secret that
// won, and of two replacements from one value exactly one wins.
func testSecretsRace(t *testing.T, s store.Store) {
	const n = 8
	got := make([][]byte, n)
	errs := atOnce(n, func(i int) (err error) {
		got[i], err = s.CreateSecret(ctx, "race", []byte(fmt.Sprint("node", i)))
		return err
	})
	for i := range n {
		must(t, errs[i])
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("node %d got %q, node 0 %q", i, got[i], got[0])
		}
	}
	oneWins(t, "replacement of one value", n, store.ErrConflict, func(i int) error {
		return s.ReplaceSecret(ctx, "race", got[0], []byte(fmt.Sprint("rotated", i)))
	})
}

// atOnce runs n calls of f at once and returns their errors.
func atOnce(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	return errs
}

// oneWins runs n calls of f at once: exactly one must succeed, the others
// fail with lost.
func oneWins(t *testing.T, what string, n int, lost error, f func(i int) error) {
	t.Helper()
	wins := 0
	for _, err := range atOnce(n, f) {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, lost):
			t.Fatal(err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d at once of %s succeeded, want 1", wins, n, what)
	}
}

func wantBytes(t *testing.T, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// testAuthRequests: a request lives until it expires or is spent, takes
// one code, and its code is spent once; a spent code is remembered with
// the family its exchange started; pending requests are bounded.
func testAuthRequests(t *testing.T, s store.Store) {
	now, ttl := t0, 10*time.Minute
	req := func(id string) store.AuthRequest {
		return store.AuthRequest{ID: id, Data: []byte(`{"client":"` + id + `"}`), Expires: now.Add(ttl)}
	}
	must(t, s.CreateAuthRequest(ctx, req("r1"), 3, now))
	wantErr(t, s.CreateAuthRequest(ctx, req("r1"), 3, now), store.ErrExists)
	got, err := s.AuthRequest(ctx, "r1", now)
	must(t, err)
	if got.ID != "r1" || string(got.Data) != `{"client":"r1"}` || got.Spent || got.CodeHash != nil || !got.Expires.Equal(now.Add(ttl)) {
		t.Fatalf("stored %+v", got)
	}
	_, err = s.AuthRequest(ctx, "r1", now.Add(ttl))
	wantErr(t, err, store.ErrNotFound) // expired
	_, err = s.AuthRequest(ctx, "nope", now)
	wantErr(t, err, store.ErrNotFound)

	must(t, s.UpdateAuthRequest(ctx, "r1", []byte("consented"), now))
	wantErr(t, s.UpdateAuthRequest(ctx, "nope", []byte("x"), now), store.ErrNotFound)
	code := []byte("hash-of-code-1")
	wantErr(t, s.SetAuthCode(ctx, "r1", code, now.Add(ttl)), store.ErrNotFound) // expired
	must(t, s.SetAuthCode(ctx, "r1", code, now))
	wantErr(t, s.SetAuthCode(ctx, "r1", []byte("another"), now), store.ErrNotFound)     // one code
	wantErr(t, s.UpdateAuthRequest(ctx, "r1", []byte("later"), now), store.ErrNotFound) // frozen once coded

	_, err = s.AuthRequestByCode(ctx, []byte("unknown"), now)
	wantErr(t, err, store.ErrNotFound)
	byCode, err := s.AuthRequestByCode(ctx, code, now)
	must(t, err)
	if byCode.ID != "r1" || string(byCode.Data) != "consented" || byCode.Spent || string(byCode.CodeHash) != string(code) {
		t.Fatalf("by code %+v", byCode)
	}
	wantErr(t, s.SpendAuthCode(ctx, "nope", now, now.Add(ttl)), store.ErrNotFound)
	must(t, s.SpendAuthCode(ctx, "r1", now, now.Add(2*ttl)))
	_, err = s.AuthRequest(ctx, "r1", now)
	wantErr(t, err, store.ErrNotFound) // spent is gone for the flow
	must(t, s.SetAuthFamily(ctx, "r1", "fam1"))
	wantErr(t, s.SpendAuthCode(ctx, "r1", now, now.Add(2*ttl)), store.ErrStale)
	// remembered past the request's own expiry, until spentUntil
	again, err := s.AuthRequestByCode(ctx, code, now.Add(ttl+time.Minute))
	must(t, err)
	if !again.Spent || again.Family != "fam1" {
		t.Fatalf("replayed code's request %+v, want spent, family fam1", again)
	}
	_, err = s.AuthRequestByCode(ctx, code, now.Add(2*ttl))
	wantErr(t, err, store.ErrNotFound) // forgotten after spentUntil

	must(t, s.CreateAuthRequest(ctx, req("r2"), 3, now))
	must(t, s.SpendAuthRequest(ctx, "r2", now)) // denied
	wantErr(t, s.SpendAuthRequest(ctx, "r2", now), store.ErrNotFound)
	wantErr(t, s.SetAuthCode(ctx, "r2", []byte("c2"), now), store.ErrNotFound)
	wantErr(t, s.SpendAuthCode(ctx, "r2", now, now.Add(ttl)), store.ErrNotFound) // no code to spend

	// the bound counts what is not expired: r1 (spent, remembered) and r2
	must(t, s.CreateAuthRequest(ctx, req("r3"), 3, now))
	wantErr(t, s.CreateAuthRequest(ctx, req("r4"), 3, now), store.ErrLimit)
	// once expired, they are swept to make room
	later := now.Add(3 * ttl)
	r5 := req("r5")
	r5.Expires = later.Add(ttl)
	must(t, s.CreateAuthRequest(ctx, r5, 1, later))
}

// testAuthCodeSpentOnce: of nodes exchanging one code at once, one wins.
func testAuthCodeSpentOnce(t *testing.T, s store.Store) {
	now := t0
	must(t, s.CreateAuthRequest(ctx, store.AuthRequest{ID: "r", Data: []byte("{}"), Expires: now.Add(time.Minute)}, 10, now))
	must(t, s.SetAuthCode(ctx, "r", []byte("code"), now))
	oneWins(t, "exchange of one code", 8, store.ErrStale, func(int) error {
		return s.SpendAuthCode(ctx, "r", now, now.Add(time.Minute))
	})
}
