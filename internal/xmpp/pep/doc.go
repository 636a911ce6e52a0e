// Package pep translates the core's personal events to and from the
// payloads of XMPP's Personal Eventing Protocol (XEP-0163): one file per
// extension — mood (XEP-0107), activity (XEP-0108), tune (XEP-0118),
// geoloc (XEP-0080) and avatar metadata (XEP-0084). Each maps a PEP node to
// a core topic, an item's XML payload to the topic's JSON form, and back.
package pep
