// Package sasl holds the server side of the SASL mechanisms presenced
// offers (RFC 4422): SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677)
// with optional channel binding (the -PLUS variants), which checks a
// client's proof against stored credentials (StoredKey, ServerKey) and
// never sees or needs the password; and OAUTHBEARER's messages (RFC 7628,
// oauthbearer.go), whose token the caller checks.
package sasl

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/store"
)

// Failure is a SASL failure with the RFC 6120 § 6.5 condition a transport
// should report.
type Failure struct {
	Condition string // "not-authorized", "malformed-request", "encryption-required" …
	Text      string
}

func (f *Failure) Error() string { return "sasl " + f.Condition + ": " + f.Text }

func malformed(format string, args ...any) error {
	return &Failure{Condition: "malformed-request", Text: fmt.Sprintf(format, args...)}
}

// errNotAuthorized is the one answer for a wrong password and an unknown
// user alike.
var errNotAuthorized = &Failure{Condition: "not-authorized", Text: "authentication failed"}

// maxMessage bounds a client message.
const maxMessage = 4096

// Credentials looks up the stored SCRAM credential of username for a
// mechanism ("SCRAM-SHA-256", without -PLUS); ok is false if there is none.
type Credentials func(username, mechanism string) (cred store.ScramCredential, ok bool)

// Scram is one server-side SCRAM conversation.
type Scram struct {
	mech   string // base mechanism, without -PLUS
	plus   bool   // the client chose the -PLUS variant
	offers bool   // we offered -PLUS (so a client saying "y" is being downgraded)
	lookup Credentials
	cb     func(typ string) ([]byte, bool) // channel binding data by type, if any
	secret []byte                          // makes fake credentials for unknown users stable
	nonce  func() string

	step            int
	gs2Header       string
	username        string
	clientFirstBare string
	serverFirst     string
	combinedNonce   string
	cred            store.ScramCredential
	known           bool
}

// Config configures conversations.
type Config struct {
	Lookup Credentials
	// ChannelBinding returns the channel binding data of the connection for
	// a type ("tls-exporter", "tls-server-end-point"); nil when the
	// connection has none (no TLS).
	ChannelBinding func(typ string) ([]byte, bool)
	// OffersPlus says the server advertised the -PLUS mechanisms.
	OffersPlus bool
	// Secret keys the fake credentials of unknown users, so that they are
	// stable across attempts and look like real ones.
	Secret []byte
	// Nonce makes the server nonce; nil means 18 random bytes, base64.
	Nonce func() string
}

// NewScram starts a conversation for mechanism (e.g. "SCRAM-SHA-256-PLUS").
func NewScram(mechanism string, c Config) (*Scram, error) {
	base, plus := strings.CutSuffix(mechanism, "-PLUS")
	if auth.ScramHash(base) == nil {
		return nil, &Failure{Condition: "invalid-mechanism", Text: "unsupported mechanism " + mechanism}
	}
	if plus && c.ChannelBinding == nil {
		return nil, &Failure{Condition: "invalid-mechanism", Text: mechanism + " needs a TLS connection"}
	}
	s := &Scram{mech: base, plus: plus, offers: c.OffersPlus, lookup: c.Lookup, cb: c.ChannelBinding, secret: c.Secret, nonce: c.Nonce}
	if s.nonce == nil {
		s.nonce = func() string {
			b := make([]byte, 18)
			rand.Read(b)
			return base64.RawStdEncoding.EncodeToString(b)
		}
	}
	return s, nil
}

// Username is the authenticated user's name (after success).
func (s *Scram) Username() string { return s.username }

// Step consumes a client message and returns the server's answer; done is
// true after the final (successful) answer.
func (s *Scram) Step(in []byte) (out []byte, done bool, err error) {
	if len(in) > maxMessage {
		return nil, false, malformed("message longer than %d bytes", maxMessage)
	}
	switch s.step {
	case 0:
		out, err = s.clientFirst(string(in))
	case 1:
		out, err = s.clientFinal(string(in))
		done = err == nil
	default:
		return nil, false, malformed("the conversation is over")
	}
	s.step++
	return out, done, err
}

func (s *Scram) clientFirst(msg string) ([]byte, error) {
	// gs2-header: cbind-flag "," [authzid] ","
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return nil, malformed("no GS2 header")
	}
	authzid, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, malformed("no GS2 header")
	}
	switch {
	case flag == "n":
		if s.plus {
			return nil, malformed("a -PLUS mechanism needs channel binding (p=…)")
		}
	case flag == "y":
		if s.plus || s.offers {
			return nil, &Failure{Condition: "not-authorized", Text: "channel binding was offered: refusing a downgrade"}
		}
	case strings.HasPrefix(flag, "p="):
		if !s.plus {
			return nil, malformed("channel binding requested with a non-PLUS mechanism")
		}
		if _, ok := s.cb(flag[2:]); !ok {
			return nil, &Failure{Condition: "malformed-request", Text: "unsupported channel binding type " + flag[2:]}
		}
	default:
		return nil, malformed("bad channel binding flag")
	}
	if authzid != "" && !strings.HasPrefix(authzid, "a=") {
		return nil, malformed("bad authorization identity")
	}
	s.gs2Header = flag + "," + authzid + ","
	attrs, err := parse(bare)
	if err != nil {
		return nil, err
	}
	if len(attrs) < 2 || attrs[0].k != 'n' || attrs[1].k != 'r' || strings.HasPrefix(bare, "m=") {
		return nil, malformed("client-first-message must be n=…,r=…")
	}
	user, err := unescapeName(attrs[0].v)
	if err != nil || user == "" {
		return nil, malformed("bad username")
	}
	if attrs[1].v == "" {
		return nil, malformed("empty client nonce")
	}
	s.username, s.clientFirstBare = user, bare
	s.cred, s.known = s.lookup(user, s.mech)
	if !s.known {
		s.cred = s.fakeCredential(user)
	}
	s.combinedNonce = attrs[1].v + s.nonce()
	s.serverFirst = "r=" + s.combinedNonce + ",s=" + base64.StdEncoding.EncodeToString(s.cred.Salt) + ",i=" + strconv.Itoa(s.cred.Iterations)
	return []byte(s.serverFirst), nil
}

func (s *Scram) clientFinal(msg string) ([]byte, error) {
	attrs, err := parse(msg)
	if err != nil {
		return nil, err
	}
	if len(attrs) < 3 || attrs[0].k != 'c' || attrs[1].k != 'r' || attrs[len(attrs)-1].k != 'p' {
		return nil, malformed("client-final-message must be c=…,r=…,…,p=…")
	}
	cbind, err := base64.StdEncoding.DecodeString(attrs[0].v)
	if err != nil {
		return nil, malformed("bad channel binding encoding")
	}
	want := []byte(s.gs2Header)
	if s.plus {
		data, _ := s.cb(strings.TrimPrefix(strings.SplitN(s.gs2Header, ",", 2)[0], "p="))
		want = append(want, data...)
	}
	if !hmac.Equal(cbind, want) {
		return nil, &Failure{Condition: "not-authorized", Text: "channel bindings do not match"}
	}
	if attrs[1].v != s.combinedNonce {
		return nil, malformed("nonce mismatch")
	}
	proof, err := base64.StdEncoding.DecodeString(attrs[len(attrs)-1].v)
	if err != nil {
		return nil, malformed("bad proof encoding")
	}
	withoutProof := msg[:strings.LastIndex(msg, ",p=")]
	authMessage := s.clientFirstBare + "," + s.serverFirst + "," + withoutProof
	h := auth.ScramHash(s.mech)
	clientSig := mac(h, s.cred.StoredKey, authMessage)
	if len(proof) != len(clientSig) {
		return nil, errNotAuthorized
	}
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ clientSig[i]
	}
	sum := h()
	sum.Write(clientKey)
	if !hmac.Equal(sum.Sum(nil), s.cred.StoredKey) || !s.known {
		return nil, errNotAuthorized
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac(h, s.cred.ServerKey, authMessage))), nil
}

// fakeCredential answers for an unknown user with a salt and iteration
// count that look like a real account's, so SCRAM does not reveal which
// accounts exist. The proof is then always refused.
func (s *Scram) fakeCredential(user string) store.ScramCredential {
	salt := mac(sha256.New, s.secret, "scram-fake-salt:"+s.mech+":"+user)[:16]
	return store.ScramCredential{Mechanism: s.mech, Salt: salt, Iterations: auth.ScramIterations,
		StoredKey: make([]byte, auth.ScramHash(s.mech)().Size())}
}

type attr struct {
	k byte
	v string
}

// parse splits "k=v,k=v" (RFC 5802 § 7), refusing empty or unnamed parts.
func parse(msg string) ([]attr, error) {
	var out []attr
	for _, part := range strings.Split(msg, ",") {
		if len(part) < 2 || part[1] != '=' || !(part[0] >= 'a' && part[0] <= 'z' || part[0] >= 'A' && part[0] <= 'Z') {
			return nil, malformed("bad attribute %q", clip(part))
		}
		out = append(out, attr{part[0], part[2:]})
	}
	return out, nil
}

// unescapeName decodes a saslname: "=2C" is ",", "=3D" is "=".
func unescapeName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", errors.New("bad escape")
		}
		i += 2
	}
	return b.String(), nil
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

func mac(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
