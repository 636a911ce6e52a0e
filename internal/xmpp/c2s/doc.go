// Package c2s is presenced's XMPP client-to-server service (RFC 6120,
// RFC 6121) over TCP (STARTTLS or direct TLS, XEP-0368), WebSocket
// (RFC 7395) and BOSH (XEP-0124/0206), on the core's sessions.
//
// Files by job:
//
//   - server.go: the listener and the life of one connection;
//     negotiate.go: stream headers and STARTTLS; sasl.go: SASL (SCRAM with
//     channel binding, PLAIN under TLS); oauthbearer.go: OAUTHBEARER, an
//     app's stream; bind.go: resource binding and the
//     end of a bound stream; register.go: in-band registration.
//   - stanzas.go: routing of what a bound stream receives — presence and
//     subscriptions, messages, iqs to other sessions — into core calls;
//     iq.go: the addressing of iqs (RFC 6120 § 10.3.3) and their dispatch.
//   - sink.go and events.go: the connection as the core session's Sink,
//     and the translation of core events into stanzas.
//   - write.go: the one way out. Stanzas are xmlstream element trees,
//     serialised by xmlstream's writer in the scope the transport's framing
//     declares (websocket.go and bosh.go frame theirs).
//   - registry.go: features register themselves. Each XEP's file (ping.go,
//     disco.go, roster.go, blocking.go, carbons.go, pep.go, last.go)
//     registers in its init the iq payloads it answers, for which entities
//     (the account, the server, a contact), and the service discovery
//     features and identities it adds; onIQ dispatches through the registry
//     and disco#info is built from it. Adding a XEP is adding a file.
//   - sm.go (XEP-0198) and caps.go (XEP-0115) hook into the stream itself.
//
// See docs/xmpp.md for what is supported and how clients connect.
package c2s
