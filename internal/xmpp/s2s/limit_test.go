package s2s_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/s2s"
)

// TestInboundRateLimit: b.test gives a.test a budget of 3 stanzas (and no
// refill to speak of), one of which alice's subscription request spends. Over a hand-written stream, a.test's messages past
// it are answered resource-constraint, not delivered; a domain that keeps
// sending over it has its stream ended with policy-violation.
func TestInboundRateLimit(t *testing.T) {
	a, b := &domain{name: "a.test", ln: listen(t)}, &domain{name: "b.test", ln: listen(t)}
	const burst = 3
	b.tweak = func(c *s2s.Config) { c.Rate, c.Burst = 1e-9, burst }
	routes := map[string]string{"a.test": a.ln.Addr().String(), "b.test": b.ln.Addr().String()}
	a.start(t, "secret-a", true, routes, "alice@a.test")
	b.start(t, "secret-b", true, routes, "bob@b.test")
	alice := a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
	bob := b.connect(t, "bob@b.test", &core.Presence{Availability: core.Available})
	aliceSeesBob(t, a, b, alice, bob) // a few stanzas of a.test's budget at b.test

	g := asA(t, b)
	const sent = burst + 5
	for i := range sent {
		g.send(`<message from='` + alice.s.Address() + `' to='bob@b.test' type='chat' id='m` + strconv.Itoa(i) + `'><body>n` + strconv.Itoa(i) + `</body></message>`)
	}
	// each message is delivered or refused: count both until all are told
	delivered, refused := 0, 0
	deadline := time.After(wait)
	for delivered+refused < sent {
		select {
		case <-bob.wake:
		case <-alice.wake:
		case <-deadline:
			t.Fatalf("after %v: %d delivered, %d refused of %d", wait, delivered, refused, sent)
		}
		for _, ev := range bob.drain() {
			if m, ok := ev.(core.MessageEvent); ok && strings.HasPrefix(m.Message.Body, "n") {
				delivered++
			}
		}
		for _, ev := range alice.drain() {
			if m, ok := ev.(core.MessageEvent); ok && m.Message.Type == core.TypeError {
				if !strings.Contains(m.Message.Payload, "resource-constraint") || !strings.Contains(m.Message.Payload, "type=\"wait\"") && !strings.Contains(m.Message.Payload, "type='wait'") {
					t.Fatalf("refusal %s", m.Message.Payload)
				}
				refused++
			}
		}
	}
	if delivered > burst-1 || refused < sent-burst+1 {
		t.Fatalf("%d delivered, %d refused of %d with a budget of %d", delivered, refused, sent, burst)
	}

	// presence over the budget is dropped silently; a domain that keeps
	// on is told to go
	for range 30 {
		g.send(`<presence from='` + alice.s.Address() + `' to='bob@b.test'/>`)
	}
	g.streamError("policy-violation")
}
