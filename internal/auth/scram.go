package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"hash"

	"golang.org/x/text/secure/precis"

	"github.com/presenced/presenced/internal/store"
)

// SCRAM mechanisms (RFC 5802, RFC 7677) whose credentials are kept for
// every password, so SASL never needs the password itself.
const (
	ScramSHA1   = "SCRAM-SHA-1"
	ScramSHA256 = "SCRAM-SHA-256"
)

// ScramIterations is the PBKDF2 cost of new SCRAM credentials (RFC 7677
// asks for at least 4096).
const ScramIterations = 10000

// ScramHash returns the hash function of a SCRAM mechanism, or nil.
func ScramHash(mechanism string) func() hash.Hash {
	switch mechanism {
	case ScramSHA1:
		return sha1.New
	case ScramSHA256:
		return sha256.New
	}
	return nil
}

// DeriveScram computes StoredKey and ServerKey (RFC 5802 § 3) for a
// password. The password is prepared with the PRECIS OpaqueString profile
// (RFC 8265, which replaces SASLprep), as clients do.
func DeriveScram(mechanism, password string, salt []byte, iterations int) (storedKey, serverKey []byte) {
	h := ScramHash(mechanism)
	if prepared, err := precis.OpaqueString.String(password); err == nil {
		password = prepared
	}
	salted, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		return nil, nil
	}
	clientKey := hmacSum(h, salted, "Client Key")
	sum := h()
	sum.Write(clientKey)
	return sum.Sum(nil), hmacSum(h, salted, "Server Key")
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// NewScramCredentials derives fresh credentials (new random salts) for
// every supported mechanism.
func NewScramCredentials(password string) []store.ScramCredential {
	var out []store.ScramCredential
	for _, mech := range []string{ScramSHA1, ScramSHA256} {
		salt := make([]byte, 16)
		rand.Read(salt)
		stored, server := DeriveScram(mech, password, salt, ScramIterations)
		out = append(out, store.ScramCredential{Mechanism: mech, Salt: salt, Iterations: ScramIterations, StoredKey: stored, ServerKey: server})
	}
	return out
}
