package core

import "slices"

// Scopes an app's session may hold (docs/apps.md): what its user granted
// the app. A first-party session (presenced's own clients) may do
// everything its account may.
const (
	ScopePresencePublish = "presence:publish"
	ScopePresenceRead    = "presence:read"
	ScopeMessage         = "message"
	ScopeSignal          = "signal"
	ScopeContactsPick    = "contacts:pick"
	ScopeEventsPublish   = "events:publish"
	ScopeEventsRead      = "events:read"
	ScopeRooms           = "rooms" // the rooms of the app's namespace (rooms.go)
	// ScopeAddresses lets the app see real addresses instead of handles
	// (a grant's Addresses).
	ScopeAddresses = "addresses"
)

var scopeBits = []string{ScopePresencePublish, ScopePresenceRead, ScopeMessage, ScopeSignal, ScopeContactsPick,
	ScopeEventsPublish, ScopeEventsRead, ScopeRooms}

// ScopeSet is a set of scopes, one bit each (scopeBits): plain data, so
// a Channel carrying one can cross to another process.
type ScopeSet uint16

// ScopesOf is the set of the known scopes among scopes.
func ScopesOf(scopes []string) ScopeSet {
	var set ScopeSet
	for _, sc := range scopes {
		if i := slices.Index(scopeBits, sc); i >= 0 {
			set |= 1 << i
		}
	}
	return set
}

// Has reports whether scope is in the set.
func (set ScopeSet) Has(scope string) bool {
	i := slices.Index(scopeBits, scope)
	return i >= 0 && set&(1<<i) != 0
}

// may refuses, with CodeForbidden, what scope covers unless s may do it:
// a first-party session may; an app's session only with the scope.
func (s *Session) may(scope string) error {
	if s.channel.FirstParty() || s.channel.Scopes.Has(scope) {
		return nil
	}
	return Errorf(CodeForbidden, "the app was not granted %s: its user can grant it on the app's next sign-in", scope)
}
