package s2s

import (
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// HasPeer reports whether an outbound side towards domain exists (a
// stream was asked for, from any served domain): for tests outside the
// package.
func (s *Server) HasPeer(domain string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.peers {
		if l.remote == domain {
			return true
		}
	}
	return false
}

// StanzasFor is what the federation router sends for ev to t, a target of
// another domain: for tests outside the package.
func (s *Server) StanzasFor(ev core.Event, t core.Target) []*xmlstream.Element {
	return s.stanzas(ev, t)
}
