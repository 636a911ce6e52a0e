package core

import (
	"fmt"
	"testing"

	"github.com/presenced/presenced/internal/store"
)

// channels is the channel dimension: first-party, and an app's channel
// under every combination of grant coverage, the scopes that bear on the
// flows, and the subject's per-app visibility.
func channels() []Facts {
	out := []Facts{{Channel: Channel{}, Covered: true}}
	readScopes := []string{ScopePresenceRead, ScopeEventsRead, ScopeMessage, ScopeSignal}
	for covered := 0; covered < 2; covered++ {
		for hidden := 0; hidden < 2; hidden++ {
			for bits := 0; bits < 1<<len(readScopes); bits++ {
				var scopes []string
				for i, sc := range readScopes {
					if bits&(1<<i) != 0 {
						scopes = append(scopes, sc)
					}
				}
				out = append(out, Facts{Channel: Channel{App: "app1"}, Covered: covered == 1, AppHidden: hidden == 1, Scopes: ScopesOf(scopes)})
			}
		}
	}
	return out
}

// TestAllowExhaustive checks the privacy rule on every combination of
// relationship × setting × channel × grant coverage × scope × per-app
// visibility × flow against an independent statement of it.
func TestAllowExhaustive(t *testing.T) {
	states := []store.State{store.None, store.Pending, store.Approved, store.Declined}
	flows := []Flow{FlowPresence, FlowLastSeen, FlowMessage, FlowRequest, FlowDirected, FlowEvent}
	chans := channels()
	n := 0
	for _, self := range []bool{false, true} {
		for _, st := range states {
			for bits := 0; bits < 16; bits++ {
				for _, c := range chans {
					f := c
					f.Self, f.State = self, st
					f.Blocked, f.Hidden, f.Invisible, f.Online = bits&1 != 0, bits&2 != 0, bits&4 != 0, bits&8 != 0
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
	if n != 2*4*16*(1+2*2*16)*6 {
		t.Fatalf("covered %d cases", n)
	}
}

// expected restates DESIGN § 3 case by case, deliberately not in the shape of Allow.
func expected(f Facts, fl Flow) bool {
	if f.Channel.App != "" {
		// rule 3: an app session sees only what its grant covers, even of
		// its own user, and each flow needs its scope
		if !f.Covered {
			return false
		}
		var needs []string
		switch fl {
		case FlowPresence, FlowLastSeen, FlowDirected:
			needs = []string{ScopePresenceRead}
		case FlowEvent:
			needs = []string{ScopeEventsRead}
		case FlowMessage:
			needs = []string{ScopeMessage, ScopeSignal} // either kind
		case FlowRequest:
			return false // subscription requests never reach apps
		}
		held := false
		for _, sc := range needs {
			held = held || f.Scopes.Has(sc)
		}
		if !held {
			return false
		}
		// per-app visibility: a subject hidden in the app is offline there,
		// but not to itself
		if f.AppHidden && !f.Self {
			return false
		}
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
