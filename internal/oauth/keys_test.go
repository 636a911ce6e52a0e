package oauth

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store/sqlite"
)

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ids(keys []*signingKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.id)
	}
	return out
}

// TestRotationShared: two nodes on one store sign with one key; when the
// key is due, one node's rotation is what both sign with and publish,
// the retired key still published; of nodes finding it due at once, one
// rotates.
func TestRotationShared(t *testing.T) {
	ctx, st, t0 := context.Background(), openStore(t), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, err := loadKeys(ctx, st, t.TempDir(), t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadKeys(ctx, st, t.TempDir(), t0.Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	first := ids(a.current(ctx, t0))
	if len(first) != 1 || ids(b.current(ctx, t0))[0] != first[0] {
		t.Fatalf("node a's keys %v, node b's %v: want one, the same", first, ids(b.current(ctx, t0)))
	}
	due := t0.Add(keyRotation + time.Hour)
	rotatedA := ids(a.current(ctx, due))
	if len(rotatedA) != 2 || rotatedA[0] != first[0] {
		t.Fatalf("after rotation: %v, want %s and a new key", rotatedA, first[0])
	}
	if got := ids(b.current(ctx, due)); len(got) != 2 || got[1] != rotatedA[1] {
		t.Fatalf("node b sees %v, node a rotated to %v", got, rotatedA)
	}
	k, err := b.signing(ctx, due)
	if err != nil || k.ID() != rotatedA[1] {
		t.Fatalf("node b signs with %v (%v), want %s", k, err, rotatedA[1])
	}

	// many nodes, all finding the key due at once
	later := due.Add(keyRotation + time.Hour)
	nodes := make([]*keyring, 6)
	for i := range nodes {
		if nodes[i], err = loadKeys(ctx, st, t.TempDir(), due, nil); err != nil {
			t.Fatal(err)
		}
	}
	got := make([][]string, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = ids(n.current(ctx, later)) }()
	}
	wg.Wait()
	for i := range got {
		if len(got[i]) != 2 || got[i][0] != rotatedA[1] || got[i][1] != got[0][1] {
			t.Fatalf("node %d has %v, node 0 %v: want one rotation after %s", i, got[i], got[0], rotatedA[1])
		}
	}
}

// TestKeyFileAdopted: the key file an older presenced kept in its data
// directory is taken into a store without keys, so the ID tokens its keys
// signed still verify; a store with keys ignores it.
func TestKeyFileAdopted(t *testing.T) {
	ctx, t0 := context.Background(), time.Now()
	old, err := rotated(nil, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, KeyFile), old, 0o600); err != nil {
		t.Fatal(err)
	}
	want, _ := parseKeys(old)
	st := openStore(t)
	kr, err := loadKeys(ctx, st, dir, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(kr.current(ctx, t0)); len(got) != 1 || got[0] != want[0].id {
		t.Fatalf("keys %v, want the file's %s", got, want[0].id)
	}
	other, err := loadKeys(ctx, openStore(t), t.TempDir(), t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(other.current(ctx, t0)); got[0] == want[0].id {
		t.Fatal("a store without the file has its key")
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("[{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKeys(ctx, openStore(t), dir, t0, nil); err == nil {
		t.Fatal("a broken key file was taken")
	}
}

// BenchmarkSigningKey: what reading the stored set on every use costs a
// token's signing (the set unchanged: one read, no parsing).
func BenchmarkSigningKey(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "x.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	kr, err := loadKeys(ctx, db, b.TempDir(), time.Now(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := kr.signing(ctx, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
