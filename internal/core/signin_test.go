package core

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/presenced/presenced/internal/store"
)

// accountReads counts the account rows read from the store.
type accountReads struct {
	store.Store
	n atomic.Int64
}

func (a *accountReads) GetAccount(ctx context.Context, address string) (store.Account, error) {
	a.n.Add(1)
	return a.Store.GetAccount(ctx, address)
}

// A login reads the account's row once: Connect takes the row the
// credential check read (AccountRead) while nothing it says has changed.
// A row read before a change (alice going invisible), or another
// account's, is read again, so what contacts see follows the change.
func TestConnectTakesTheSignInRead(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	reads := &accountReads{Store: e.st}
	e.hub.store = reads
	e.befriend("alice@x", "bob@x")
	b := e.connect("bob@x", avail)
	b.take()

	read, err := e.hub.ReadAccount(ctx, "alice@x")
	e.must(err)
	if c, ok := read.Scram("SCRAM-SHA-256"); ok || c.Mechanism != "" {
		t.Fatalf("a credential alice has none of: %+v", c)
	}
	before := reads.n.Load()
	a := e.open("alice@x", SessionOptions{Device: "t", Presence: avail, Account: read})
	if n := reads.n.Load() - before; n != 0 {
		t.Fatalf("Connect read the account %d times after the sign-in's read", n)
	}
	if v, ok := presenceOf(b.take(), "alice@x"); !ok || v.Availability != Available {
		t.Fatalf("bob sees alice as %+v", v)
	}
	a.s.Close()
	b.take()

	stale, err := e.hub.ReadAccount(ctx, "alice@x")
	e.must(err)
	e.must(e.hub.SetInvisible(ctx, "alice@x", true))
	before = reads.n.Load()
	a = e.open("alice@x", SessionOptions{Device: "t", Presence: avail, Account: stale})
	if reads.n.Load() == before {
		t.Fatal("Connect took a row read before alice went invisible")
	}
	if v, ok := presenceOf(b.take(), "alice@x"); ok && v.Availability != Unavailable {
		t.Fatalf("bob sees invisible alice as %+v", v)
	}
	a.s.Close()

	e.must(e.hub.SetInvisible(ctx, "alice@x", false))
	other, err := e.hub.ReadAccount(ctx, "bob@x")
	e.must(err)
	before = reads.n.Load()
	e.open("alice@x", SessionOptions{Device: "t", Presence: avail, Account: other})
	if reads.n.Load() == before {
		t.Fatal("Connect took bob's row for alice")
	}
	if _, err := e.hub.ReadAccount(ctx, "nobody@x"); err == nil {
		t.Fatal("an unknown account was read")
	}
}

// A change of facts heard from another process about an account not live
// here bumps its epoch, so a sign-in's read or a Connect under way that
// read before the change reads again.
func TestFactsOfAnAccountNotLiveBumpItsEpoch(t *testing.T) {
	e := newEnv(t, "alice@x")
	was := e.hub.epoch("alice@x")
	e.must(e.hub.refreshFacts(ctx, "alice@x"))
	if e.hub.epoch("alice@x") == was {
		t.Fatal("the epoch of an account not live stayed")
	}
}
