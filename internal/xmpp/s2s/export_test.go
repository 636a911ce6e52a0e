package s2s

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
