// Package c2s is presenced's XMPP client-to-server listener (RFC 6120):
// stream headers, STARTTLS (and direct TLS, XEP-0368), SASL authentication
// (SCRAM-SHA-256/-SHA-1 with -PLUS channel binding, PLAIN only under TLS)
// and resource binding.
//
// A bound resource is a core session (session.go): core events become
// stanzas on its Sink, and presence, subscription, message, roster and
// ping stanzas become Hub and Session calls. Status (issue 3, in progress):
// see docs/xmpp.md; the listener is only started when --xmpp-addr is given.
package c2s
