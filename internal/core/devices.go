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
		i := SessionInfo{Resource: s.Resource, Device: deviceOfResource(s.Resource), Transport: s.transport.name, Credential: s.credential,
			Started: h.born.Add(time.Duration(s.started) * time.Second), Availability: Unavailable}
		if s.available {
			i.Availability = s.presence.Availability
		}
		out = append(out, i)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// deviceOfResource is the device name a resource was made from (Connect
// adds "-" and six hex digits to it), or the resource itself when a client
// chose it (XMPP). Sessions keep no copy: it is in their resource.
func deviceOfResource(resource string) string {
	i := len(resource) - 7
	if i <= 0 || resource[i] != '-' {
		return resource
	}
	for _, c := range resource[i+1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return resource
		}
	}
	return resource[:i]
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
