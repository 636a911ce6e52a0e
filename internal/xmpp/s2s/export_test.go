package s2s

// HasPeer reports whether an outbound side towards domain exists (a
// stream was asked for): for tests outside the package.
func (s *Server) HasPeer(domain string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[domain] != nil
}
