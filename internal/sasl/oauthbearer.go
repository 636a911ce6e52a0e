package sasl

// OAUTHBEARER (RFC 7628): the client sends an OAuth 2.0 bearer token (RFC
// 6750) in one message; the server checks it (the caller does: this file
// only reads the message and writes the error challenge). A failure is one
// round trip longer than a success: the server sends a JSON error as a
// challenge, the client answers with a lone kvsep (%x01), and only then
// does the server report the failure (§ 3.2.3).

import (
	"encoding/json"
	"strings"
)

// OAuthBearer is the name of the mechanism.
const OAuthBearer = "OAUTHBEARER"

const kvsep = "\x01"

// BearerMessage is what an OAUTHBEARER initial client response says.
type BearerMessage struct {
	// AuthzID is the GS2 header's authorization identity (a=…), unescaped;
	// "" when the client named none.
	AuthzID string
	// Token is the bearer token of the auth kvpair ("Bearer <token>").
	Token string
	// Host and Port are the optional kvpairs of the same names (§ 3.1),
	// informational only.
	Host, Port string
}

// ParseOAuthBearer reads an OAUTHBEARER initial client response (RFC 7628
// § 3.1):
//
//	gs2-header kvsep *(key "=" value kvsep) kvsep
//
// with gs2-header = gs2-cb-flag "," [ "a=" saslname ] "," (RFC 5801 § 4).
// OAUTHBEARER has no channel binding: the flag must be "n" or "y" (the
// client supports it but thinks we do not, which is true here); "p=…" is
// refused. The auth kvpair is required and must hold "Bearer" (any case, RFC
// 6750 § 2.1), spaces and a b64token; other keys are allowed and ignored
// (§ 3.1 lets clients send more). A lone kvsep, the client's answer to an
// error challenge, is not an initial response: it is refused here too.
// Every error is a *Failure with the condition malformed-request.
func ParseOAuthBearer(msg []byte) (BearerMessage, error) {
	var m BearerMessage
	if len(msg) > maxMessage {
		return m, malformed("message longer than %d bytes", maxMessage)
	}
	s := string(msg)
	flag, rest, ok := strings.Cut(s, ",")
	if !ok {
		return m, malformed("no GS2 header")
	}
	switch {
	case flag == "n", flag == "y":
	case strings.HasPrefix(flag, "p="):
		return m, malformed("OAUTHBEARER has no channel binding")
	default:
		return m, malformed("bad channel binding flag")
	}
	authzid, rest, ok := strings.Cut(rest, ",")
	if !ok {
		return m, malformed("no GS2 header")
	}
	if authzid != "" {
		name, found := strings.CutPrefix(authzid, "a=")
		if !found || name == "" {
			return m, malformed("bad authorization identity")
		}
		var err error
		if m.AuthzID, err = unescapeName(name); err != nil {
			return m, malformed("bad authorization identity")
		}
	}
	// what follows the header: kvsep, the kvpairs each ended by kvsep, kvsep
	body, found := strings.CutPrefix(rest, kvsep)
	if !found {
		return m, malformed("no kvsep after the GS2 header")
	}
	body, found = strings.CutSuffix(body, kvsep+kvsep)
	if !found {
		if body != kvsep {
			return m, malformed("the message must end with two kvseps")
		}
		body = "" // gs2-header kvsep kvsep: no kvpairs at all
	}
	seen := map[string]bool{}
	for _, pair := range strings.Split(body, kvsep) {
		if body == "" {
			break
		}
		key, value, ok := strings.Cut(pair, "=")
		if !ok || !validKey(key) || !validValue(value) {
			return m, malformed("bad kvpair %q", clip(pair))
		}
		if seen[key] {
			return m, malformed("kvpair %s given twice", key)
		}
		seen[key] = true
		switch key {
		case "auth":
			scheme, token, ok := strings.Cut(value, " ")
			token = strings.TrimLeft(token, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || !b64token(token) {
				return m, malformed("auth must be Bearer and a token")
			}
			m.Token = token
		case "host":
			m.Host = value
		case "port":
			m.Port = value
		}
	}
	if m.Token == "" {
		return m, malformed("no auth kvpair")
	}
	return m, nil
}

// validKey: key = 1*(ALPHA).
func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// validValue: value = *(VCHAR / SP / HTAB / CR / LF).
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= 0x21 && c <= 0x7e || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			return false
		}
	}
	return true
}

// b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
// (RFC 6750 § 2.1).
func b64token(t string) bool {
	body := strings.TrimRight(t, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}

// BearerError is the server's error challenge (RFC 7628 § 3.2.2): Status
// is an OAuth error code ("invalid_token", "insufficient_scope" …), Scope
// the scopes that would do, OpenIDConfiguration where a client finds the
// authorization server.
type BearerError struct {
	Status              string `json:"status"`
	Scope               string `json:"scope,omitempty"`
	OpenIDConfiguration string `json:"openid-configuration,omitempty"`
}

// Challenge encodes e as the JSON the server sends.
func (e BearerError) Challenge() []byte {
	b, _ := json.Marshal(e)
	return b
}

// IsBearerAbort reports whether msg is the client's answer to an error
// challenge: a lone kvsep (RFC 7628 § 3.2.3).
func IsBearerAbort(msg []byte) bool { return string(msg) == kvsep }
