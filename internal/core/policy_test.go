package core

import (
	"fmt"
	"testing"

	"github.com/presenced/presenced/internal/store"
)

// channels are the channel dimension as it exists now: first-party, and an
// app channel with and without a grant covering the subject (no app
// session exists yet, but the rule's place does).
var channels = []struct {
	ch      Channel
	granted bool
}{{Channel{}, true}, {Channel{App: "app1"}, false}, {Channel{App: "app1"}, true}}

// TestAllowExhaustive checks the privacy rule on every combination of
// relationship × setting × channel × flow against an independent statement
// of it.
func TestAllowExhaustive(t *testing.T) {
	states := []store.State{store.None, store.Pending, store.Approved, store.Declined}
	flows := []Flow{FlowPresence, FlowLastSeen, FlowMessage, FlowRequest, FlowDirected}
	n := 0
	for _, self := range []bool{false, true} {
		for _, st := range states {
			for bits := 0; bits < 16; bits++ {
				for _, c := range channels {
					f := Facts{Self: self, State: st, Blocked: bits&1 != 0, Hidden: bits&2 != 0, Invisible: bits&4 != 0, Online: bits&8 != 0,
						Channel: c.ch, Granted: c.granted}
					for _, fl := range flows {
						n++
						if got, want := Allow(f, fl), expected(f, fl); got != want {
							t.Errorf("Allow(%+v, %d) = %v, want %v", f, fl, got, want)
						}
					}
				}
			}
		}
	}
	if n != 2*4*16*len(channels)*5 {
		t.Fatalf("covered %d cases", n)
	}
}

// expected restates DESIGN § 3 case by case, deliberately not in the shape of Allow.
func expected(f Facts, fl Flow) bool {
	if f.Channel.App != "" && !f.Granted {
		return false // rule 3: an app session sees only what its grant covers, even of its own user
	}
	if f.Self {
		return true // one's own sessions see everything of oneself
	}
	approved := f.State == store.Approved
	switch fl {
	case FlowRequest:
		// a blocked user cannot reach the subject, whatever else holds
		return !f.Blocked
	case FlowDirected:
		// the subject chose this viewer: no approval needed, but blocks,
		// hiding and invisibility still hold (rules 1 and 2)
		return !f.Blocked && !f.Hidden && !f.Invisible
	case FlowLastSeen:
		if f.Online {
			return false // last seen is only for the offline
		}
		fallthrough
	default:
		if !approved {
			return false // rule 1: only along an approved edge
		}
		if f.Blocked {
			return false // rule 1: and not blocked
		}
		if f.Invisible || f.Hidden {
			return false // rule 2: visibility settings
		}
		return true
	}
}

func ExampleAllow() {
	bob := Facts{State: store.Approved, Online: true}
	fmt.Println(Allow(bob, FlowPresence))
	bob.Hidden = true
	fmt.Println(Allow(bob, FlowPresence), Allow(bob, FlowRequest))
	// Output:
	// true
	// false true
}
