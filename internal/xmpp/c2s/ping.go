package c2s

// XEP-0199 XMPP Ping, to the server or on behalf of the account; and RFC
// 3921's session establishment, which older clients still ask for (RFC
// 6121 § 1.4 keeps it as a no-op).

import "encoding/xml"

const nsPing = "urn:xmpp:ping"

func init() {
	register(iqFeature{
		payloads: []xml.Name{{Space: nsPing, Local: "ping"}, {Space: nsSession, Local: "session"}},
		at:       forAccount | forServer,
		handle:   func(c *conn, rq iqRequest) error { return c.iqResult(rq, nil) },
		features: map[addressee][]string{toServer: {nsPing}},
	})
}
