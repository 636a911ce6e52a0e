package oauth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Signing keys: RS256 (the algorithm every OpenID Connect client accepts),
// a new key every keyRotation; a retired key stays in the published set
// until every ID token it signed has expired, so verifiers holding a
// cached key set keep working across a rotation.
const (
	keyRotation = 30 * 24 * time.Hour
	keyFile     = "oauth-keys.json"
)

type signingKey struct {
	id      string
	created time.Time
	key     *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is a key of the published set (op.Key).
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.key.PublicKey }

// keyring holds the keys, newest last, and their file.
type keyring struct {
	mu   sync.Mutex
	path string
	keys []*signingKey
}

type storedKey struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Key     string    `json:"key"` // PKCS#8, base64
}

// loadKeys reads the key file of dir (made if missing) and rotates if due.
func loadKeys(dir string, now time.Time) (*keyring, error) {
	kr := &keyring{path: filepath.Join(dir, keyFile)}
	b, err := os.ReadFile(kr.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("oauth keys: %w", err)
	default:
		var stored []storedKey
		if err := json.Unmarshal(b, &stored); err != nil {
			return nil, fmt.Errorf("oauth keys %s: %w", kr.path, err)
		}
		for _, s := range stored {
			der, err := base64.StdEncoding.DecodeString(s.Key)
			if err != nil {
				return nil, fmt.Errorf("oauth keys %s: %w", kr.path, err)
			}
			k, err := x509.ParsePKCS8PrivateKey(der)
			rk, ok := k.(*rsa.PrivateKey)
			if err != nil || !ok {
				return nil, fmt.Errorf("oauth keys %s: key %s is not an RSA private key", kr.path, s.ID)
			}
			kr.keys = append(kr.keys, &signingKey{id: s.ID, created: s.Created, key: rk})
		}
	}
	if err := kr.rotate(now); err != nil {
		return nil, err
	}
	return kr, nil
}

// rotate adds a key when the newest is due (or there is none) and drops
// those no token can still need. The new set is written before it is
// used: a key that signed must survive a restart. The caller holds mu or
// owns kr.
func (kr *keyring) rotate(now time.Time) error {
	if n := len(kr.keys); n > 0 && now.Sub(kr.keys[n-1].created) < keyRotation {
		return nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	sum := sha256.Sum256(der)
	// the key before the new one signs no more, but its ID tokens live on
	// for IDTokenTTL (keyRotation is far longer): it stays; older ones go
	keys := append(kr.keys[max(0, len(kr.keys)-1):len(kr.keys):len(kr.keys)],
		&signingKey{id: base64.RawURLEncoding.EncodeToString(sum[:12]), created: now, key: key})
	if err := save(kr.path, keys); err != nil {
		return err
	}
	kr.keys = keys
	return nil
}

// rotateOrKeep rotates if due; if that fails (the key file cannot be
// written), the current key goes on signing and the next use tries again.
func (kr *keyring) rotateOrKeep(now time.Time) {
	_ = kr.rotate(now)
}

func save(path string, keys []*signingKey) error {
	var out []storedKey
	for _, k := range keys {
		der, _ := x509.MarshalPKCS8PrivateKey(k.key)
		out = append(out, storedKey{ID: k.id, Created: k.created, Key: base64.StdEncoding.EncodeToString(der)})
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("oauth keys: %w", err)
	}
	return os.Rename(tmp, path)
}

// signing is the key that signs now, rotating first if due.
func (kr *keyring) signing(now time.Time) op.SigningKey {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	kr.rotateOrKeep(now)
	return kr.keys[len(kr.keys)-1]
}

// public is the published key set.
func (kr *keyring) public(now time.Time) []op.Key {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	kr.rotateOrKeep(now)
	out := make([]op.Key, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = publicKey{k}
	}
	return out
}
