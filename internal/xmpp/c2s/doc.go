// Package c2s is presenced's XMPP client-to-server listener (RFC 6120):
// stream headers, STARTTLS (and direct TLS, XEP-0368), SASL authentication
// (SCRAM-SHA-256/-SHA-1 with -PLUS channel binding, PLAIN only under TLS)
// and resource binding.
//
// Status (issue 3, in progress): negotiation is complete and tested with
// mellium.im/xmpp; stanzas after binding (roster, presence, messages through
// the core) are not handled yet, so the listener is only started when
// --xmpp-addr is given.
package c2s
