package core

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/presenced/presenced/internal/store"
)

// graphReads counts the store reads a View stands in for.
type graphReads struct {
	store.Store
	n atomic.Int64
}

func (g *graphReads) RelationsOf(ctx context.Context, a string) ([]store.Relation, error) {
	g.n.Add(1)
	return g.Store.RelationsOf(ctx, a)
}

func (g *graphReads) ApprovedBy(ctx context.Context, a string) ([]store.SubjectFacts, error) {
	g.n.Add(1)
	return g.Store.ApprovedBy(ctx, a)
}

// A View kept from Connect answers Subscriptions and Probe without reading
// the store while it is current, and gives way to the store once the
// account's relationships change: what the session is told is the same
// either way.
func TestViewStandsInForTheStoreUntilAChange(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "carol@x")
	reads := &graphReads{Store: e.st}
	e.hub.store = reads
	e.befriend("alice@x", "bob@x")
	e.connect("bob@x", avail)
	e.connect("carol@x", avail)

	var v View
	a := e.open("alice@x", SessionOptions{Device: "xmpp", View: &v})
	a.take()
	before := reads.n.Load()
	subs, err := a.s.Subscriptions(ctx, &v)
	e.must(err)
	e.must(a.s.Probe(ctx, &v))
	if n := reads.n.Load() - before; n != 0 {
		t.Fatalf("a current view read the store %d times", n)
	}
	want, err := e.hub.Subscriptions(ctx, "alice@x")
	e.must(err)
	if !reflect.DeepEqual(subs, want) {
		t.Fatalf("from the view: %+v\nfrom the store: %+v", subs, want)
	}
	if _, ok := presenceOf(a.take(), "bob@x"); !ok {
		t.Fatal("the probe from the view did not bring bob's presence")
	}

	e.befriend("alice@x", "carol@x") // the view is stale now
	a.take()
	subs, err = a.s.Subscriptions(ctx, &v)
	e.must(err)
	if len(subs) != 2 || subs[1].Address != "carol@x" || !subs[1].From || !subs[1].To {
		t.Fatalf("a stale view answered: %+v", subs)
	}
	e.must(a.s.Probe(ctx, &v))
	if _, ok := presenceOf(a.take(), "carol@x"); !ok {
		t.Fatal("a probe after the change missed carol, who approved since")
	}
	if reads.n.Load() == before {
		t.Fatal("a stale view did not send them to the store")
	}

	var zero View // never filled: not current
	subs, err = a.s.Subscriptions(ctx, &zero)
	e.must(err)
	if len(subs) != 2 {
		t.Fatalf("the zero view answered %+v", subs)
	}
}
