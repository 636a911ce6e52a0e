package s2s_test

import (
	"testing"

	"github.com/presenced/presenced/internal/core"
)

// TestSeveralLocalDomains: one server serves a.test and x.test, another
// b.test. alice@a.test and xena@x.test are local to each other (the same
// rules as between any two local users); each of them federates with
// bob@b.test on a stream of her own domain, authenticated by dialback
// for it (b.test verifies x.test by connecting back to the server that
// serves both): a stanza of x.test's on a.test's stream would be refused
// by b.test (invalid-from), so what crosses below proves the pairing.
func TestSeveralLocalDomains(t *testing.T) {
	a := &domain{name: "a.test", also: []string{"x.test"}, ln: listen(t)}
	b := &domain{name: "b.test", ln: listen(t)}
	routes := map[string]string{"a.test": a.ln.Addr().String(), "x.test": a.ln.Addr().String(), "b.test": b.ln.Addr().String()}
	a.start(t, "secret-a", true, routes, "alice@a.test", "xena@x.test")
	b.start(t, "secret-b", true, routes, "bob@b.test")
	avail := &core.Presence{Availability: core.Available, Status: "here"}
	alice := a.connect(t, "alice@a.test", avail)
	xena := a.connect(t, "xena@x.test", avail)
	bob := b.connect(t, "bob@b.test", avail)

	if a.hub.Remote("xena@x.test") || !a.hub.Remote("bob@b.test") || !a.hub.Serves("X.test") {
		t.Fatal("the hub of a.test and x.test takes x.test for another domain")
	}

	// alice and xena, on one server, subscribe and talk as local users
	sees(t, a, "alice@a.test", alice, a, "xena@x.test", xena)
	if _, err := alice.s.Send(core.Message{Kind: core.KindMessage, To: "xena@x.test", Body: "next door"}); err != nil {
		t.Fatal(err)
	}
	xena.await("alice's message", message("alice@a.test/", "next door"))

	// each subscribes with bob both ways, and they exchange messages
	for _, c := range []struct {
		who string
		cl  *client
	}{{"alice@a.test", alice}, {"xena@x.test", xena}} {
		sees(t, a, c.who, c.cl, b, "bob@b.test", bob)
		sees(t, b, "bob@b.test", bob, a, c.who, c.cl)
		if _, err := c.cl.s.Send(core.Message{Kind: core.KindMessage, To: "bob@b.test", Body: "hello from " + c.who}); err != nil {
			t.Fatal(err)
		}
		bob.await(c.who+"'s message", message(c.who+"/", "hello from "+c.who))
		if _, err := bob.s.Send(core.Message{Kind: core.KindMessage, To: c.cl.s.Address(), Body: "hi " + c.who}); err != nil {
			t.Fatal(err)
		}
		c.cl.await("bob's message to "+c.who, message("bob@b.test/", "hi "+c.who))
	}
	if err := xena.s.SetPresence(core.Presence{Availability: core.Away, Status: "out"}); err != nil {
		t.Fatal(err)
	}
	bob.await("xena away", presenceOf("xena@x.test", core.Away, "out"))
	alice.await("xena away, locally", presenceOf("xena@x.test", core.Away, "out"))
}
