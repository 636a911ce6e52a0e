// Package core is the presence engine of presenced: sessions, presence
// aggregation, subscriptions, blocks, routing and fan-out, all decided by the
// privacy policy in policy.go.
//
// The core knows nothing about wire formats. Transports (WebSocket,
// long-polling, later XMPP) turn their frames into calls on Hub and Session
// and pull Events from a Session's outbox; the REST API calls the same Hub
// methods. Durable state goes through store.Store; time through clock.Clock.
//
// Where does a presence update go? Session.SetPresence → Hub.broadcast
// (hub.go) → Allow (policy.go) for each viewer → Session.push (session.go).
package core
