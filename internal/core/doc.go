// Package core is the presence engine of presenced: sessions, presence
// aggregation, subscriptions, blocks, routing and fan-out, all decided by the
// privacy policy in policy.go.
//
// The core knows nothing about wire formats. Transports (WebSocket,
// long-polling, XMPP) turn their frames into calls on Hub and Session and
// pull Events from a Session's outbox; the REST API calls the same Hub
// methods. Durable state goes through store.Store; time through clock.Clock.
//
// Where does a presence update go? Session.SetPresence → Hub.broadcastLocked
// (hub.go) → Hub.deliver (deliver.go), the one delivery path: decide (Allow,
// policy.go, on facts from facts.go), project, route (Router; router.go is
// the local one) → Session.push (session.go). docs/architecture.md draws it.
package core
