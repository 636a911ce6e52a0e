// Package xmlstream reads an XMPP XML stream (RFC 6120 § 4) safely: the
// stream header, then one top-level element (stanza) at a time, parsed into
// a small tree.
//
// It enforces RFC 6120 § 11.1 "restricted XML" — no comments, processing
// instructions (beyond the XML declaration), DTDs or entity references
// other than the five predefined ones — and presenced's own bounds on
// stanza size, nesting depth and attributes, so a peer cannot make the
// server hold more than one bounded stanza in memory. Violations are
// *StreamError values naming the RFC 6120 § 4.9.3 condition the stream must
// be closed with.
package xmlstream
