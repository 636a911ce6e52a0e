package core

import (
	"sort"
	"time"
)

// A user's own view of its devices: the live sessions of its account, so
// that the web page can list them and end one, or all ("sign out
// everywhere"). The sessions listed are this process's; a cluster router
// will have to ask the other nodes too.

// GoawaySignedOut is the reason given to a session its owner ended from
// another device.
const GoawaySignedOut = "signed out from another device"

// SessionInfo is one live session, as its owner sees it.
type SessionInfo struct {
	Resource     string
	Device       string
	Transport    string
	Credential   string // the bearer token's ID, or CredentialPassword
	Started      time.Time
	Availability Availability // Unavailable until it publishes presence
}

// Sessions lists the account's live sessions (also those in their grace
// period), oldest first.
func (h *Hub) Sessions(account string) []SessionInfo {
	defer h.lock(account)()
	u := h.live(account)
	if u == nil {
		return nil
	}
	var out []SessionInfo
	for _, s := range u.list() {
		i := SessionInfo{Resource: s.Resource, Device: s.device, Transport: s.transport, Credential: s.credential,
			Started: s.started, Availability: Unavailable}
		if s.available {
			i.Availability = s.presence.Availability
		}
		out = append(out, i)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// EndSession ends one of the account's sessions at once (its contacts see
// it leave): CodeNotFound if it has none on resource. A client holding a
// valid token may connect again; to keep a device out, revoke its token.
func (h *Hub) EndSession(account, resource string) error {
	found := false
	h.endSessions(account, GoawaySignedOut, func(s *Session) bool {
		if s.Resource == resource {
			found = true
		}
		return s.Resource == resource
	})
	if !found {
		return Errorf(CodeNotFound, "no such session")
	}
	return nil
}

// EndAllSessions ends every session of the account.
func (h *Hub) EndAllSessions(account string) {
	h.endSessions(account, GoawaySignedOut, func(*Session) bool { return true })
}
