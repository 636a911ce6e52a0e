package bench

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	msasl "mellium.im/sasl"
)

// scramMechanism is the one SASL mechanism every server under test stores
// credentials for and every bench client uses: Prosody 0.12's
// internal_hashed keeps one SCRAM hash per host (password_hash, SHA-1 by
// default, SHA-256 when set), ejabberd one per host (auth_scram_hash), so
// each server is given SCRAM-SHA-256 and nothing else.
const scramMechanism = "SCRAM-SHA-256"

// ScramCache keeps clients' SaltedPassword per account, salt and iteration
// count, as real clients do (RFC 5802 § 5.1 allows it): only the first
// login of an account pays PBKDF2, later ones (and every other server
// holding the same salt) only HMACs. Safe for concurrent use.
type ScramCache struct {
	mu     sync.Mutex
	salted map[string][]byte
	misses atomic.Int64 // logins that had to run PBKDF2
}

// NewScramCache returns an empty cache.
func NewScramCache() *ScramCache { return &ScramCache{salted: map[string][]byte{}} }

func scramCacheKey(user string, salt []byte, iterations int) string {
	return user + "\x00" + string(salt) + "\x00" + strconv.Itoa(iterations)
}

// Put records a SaltedPassword.
func (c *ScramCache) Put(user string, salt []byte, iterations int, salted []byte) {
	c.mu.Lock()
	c.salted[scramCacheKey(user, salt, iterations)] = salted
	c.mu.Unlock()
}

// Misses is how many logins computed PBKDF2 because nothing was cached.
func (c *ScramCache) Misses() int64 { return c.misses.Load() }

func (c *ScramCache) saltedPassword(user, password string, salt []byte, iterations int) ([]byte, error) {
	key := scramCacheKey(user, salt, iterations)
	c.mu.Lock()
	s, ok := c.salted[key]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	c.misses.Add(1)
	s, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return nil, err
	}
	c.Put(user, salt, iterations, s)
	return s, nil
}

// scramKeys derives ClientKey, StoredKey and ServerKey from a
// SaltedPassword (RFC 5802 § 3).
func scramKeys(salted []byte) (clientKey, storedKey, serverKey []byte) {
	clientKey = hmacSHA256(salted, "Client Key")
	sum := sha256.Sum256(clientKey)
	return clientKey, sum[:], hmacSHA256(salted, "Server Key")
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Mechanism is a client-side SCRAM-SHA-256 (without channel binding) that
// takes SaltedPassword from the cache. Passwords are ASCII here, so SASLprep
// and PRECIS leave them as they are.
func (c *ScramCache) Mechanism() msasl.Mechanism {
	return msasl.Mechanism{
		Name: scramMechanism,
		Start: func(n *msasl.Negotiator) (bool, []byte, any, error) {
			user, _, _ := n.Credentials()
			name := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(string(user))
			bare := []byte("n=" + name + ",r=" + string(n.Nonce()))
			return true, append([]byte("n,,"), bare...), scramState{user: string(user), clientFirstBare: bare}, nil
		},
		Next: func(n *msasl.Negotiator, challenge []byte, data any) (bool, []byte, any, error) {
			st, _ := data.(scramState)
			switch n.State() & msasl.StepMask {
			case msasl.AuthTextSent:
				return c.clientFinal(n, challenge, st)
			case msasl.ResponseSent:
				if !hmac.Equal(challenge, []byte("v="+base64.StdEncoding.EncodeToString(st.serverSignature))) {
					return false, nil, nil, msasl.ErrAuthn
				}
				return false, nil, nil, nil
			}
			return false, nil, nil, msasl.ErrInvalidState
		},
	}
}

type scramState struct {
	user            string
	clientFirstBare []byte
	serverSignature []byte
}

func (c *ScramCache) clientFinal(n *msasl.Negotiator, serverFirst []byte, st scramState) (bool, []byte, any, error) {
	var nonce, salt []byte
	iterations := -1
	for _, field := range bytes.Split(serverFirst, []byte(",")) {
		if len(field) < 2 || field[1] != '=' {
			continue
		}
		switch v := field[2:]; field[0] {
		case 'r':
			nonce = v
		case 's':
			var err error
			if salt, err = base64.StdEncoding.DecodeString(string(v)); err != nil {
				return false, nil, nil, fmt.Errorf("scram: salt: %w", err)
			}
		case 'i':
			iterations, _ = strconv.Atoi(string(v))
		case 'm':
			return false, nil, nil, errors.New("scram: server sent reserved attribute m")
		}
	}
	if iterations <= 0 || len(salt) == 0 || !bytes.HasPrefix(nonce, n.Nonce()) {
		return false, nil, nil, msasl.ErrInvalidChallenge
	}
	_, password, _ := n.Credentials()
	salted, err := c.saltedPassword(st.user, string(password), salt, iterations)
	if err != nil {
		return false, nil, nil, err
	}
	clientKey, storedKey, serverKey := scramKeys(salted)
	withoutProof := "c=biws,r=" + string(nonce) // biws: base64 of the GS2 header "n,,"
	authMessage := string(st.clientFirstBare) + "," + string(serverFirst) + "," + withoutProof
	proof := hmacSHA256(storedKey, authMessage)
	subtle.XORBytes(proof, clientKey, proof)
	st.serverSignature = hmacSHA256(serverKey, authMessage)
	return true, []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), st, nil
}
