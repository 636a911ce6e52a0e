package oauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/presenced/presenced/internal/store"
)

// Signing keys: RS256 (the algorithm every OpenID Connect client accepts),
// a new key every keyRotation; a retired key stays in the published set
// until every ID token it signed has expired, so verifiers holding a
// cached key set keep working across a rotation.
//
// The set lives in the store (store.Secrets), read on every use, so every
// node of a cluster signs with the newest key and publishes every key any
// node signs with. Rotation is a compare-and-replace of the stored set:
// of nodes finding it due at once, one replaces it and the others take
// its set.
const (
	keyRotation = 30 * 24 * time.Hour
	// KeyFile is where an older presenced kept the set, in its data
	// directory: taken into a store that has none.
	KeyFile   = "oauth-keys.json"
	keySecret = "oauth-keys" // the set's name among the store's secrets
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

// keyring reads the stored set, keeping the last one read parsed.
type keyring struct {
	secrets store.Secrets
	legacy  string // KeyFile's path in the data directory
	log     *slog.Logger

	mu     sync.Mutex
	stored []byte // the set as last read
	keys   []*signingKey
}

type storedKey struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Key     string    `json:"key"` // PKCS#8, base64
}

// loadKeys reads the stored set (taking dir's key file, or making a key,
// when the store has none) and rotates if due.
func loadKeys(ctx context.Context, secrets store.Secrets, dir string, now time.Time, log *slog.Logger) (*keyring, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kr := &keyring{secrets: secrets, legacy: filepath.Join(dir, KeyFile), log: log}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if err := kr.refresh(ctx, now); err != nil {
		return nil, err
	}
	return kr, nil
}

// refresh reads the stored set and rotates it if due. The caller holds mu.
func (kr *keyring) refresh(ctx context.Context, now time.Time) error {
	b, err := store.SecretOrMake(ctx, kr.secrets, keySecret, kr.initial)
	for attempt := 0; err == nil; attempt++ {
		if err = kr.take(b); err != nil {
			return err
		}
		n := len(kr.keys)
		if n > 0 && (now.Sub(kr.keys[n-1].created) < keyRotation || attempt == 3) {
			return nil // (after 3 lost races, the set due goes on signing)
		}
		var next []byte
		if next, err = rotated(kr.keys, now); err != nil {
			break
		}
		switch err = kr.secrets.ReplaceSecret(ctx, keySecret, b, next); {
		case err == nil:
			b = next
		case errors.Is(err, store.ErrConflict) && attempt < 3: // another node rotated: take its set
			b, err = kr.secrets.Secret(ctx, keySecret)
		}
	}
	return fmt.Errorf("oauth keys: %w", err)
}

// initial is the set a store without one starts with: the data
// directory's key file of an older presenced (so the ID tokens it signed
// still verify), or none (refresh then makes the first key).
func (kr *keyring) initial() ([]byte, error) {
	b, err := os.ReadFile(kr.legacy)
	if errors.Is(err, os.ErrNotExist) {
		return []byte("[]"), nil
	}
	if err == nil {
		_, err = parseKeys(b)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kr.legacy, err)
	}
	return b, nil
}

// take makes b the current set, parsing it only if it changed.
func (kr *keyring) take(b []byte) error {
	if bytes.Equal(b, kr.stored) {
		return nil
	}
	keys, err := parseKeys(b)
	if err != nil {
		return fmt.Errorf("oauth keys in the store: %w", err)
	}
	kr.stored, kr.keys = b, keys
	return nil
}

func parseKeys(b []byte) ([]*signingKey, error) {
	var stored []storedKey
	if err := json.Unmarshal(b, &stored); err != nil {
		return nil, err
	}
	var keys []*signingKey
	for _, s := range stored {
		der, err := base64.StdEncoding.DecodeString(s.Key)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", s.ID, err)
		}
		k, err := x509.ParsePKCS8PrivateKey(der)
		rk, ok := k.(*rsa.PrivateKey)
		if err != nil || !ok {
			return nil, fmt.Errorf("key %s is not an RSA private key", s.ID)
		}
		keys = append(keys, &signingKey{id: s.ID, created: s.Created, key: rk})
	}
	return keys, nil
}

// rotated is the set after a rotation of keys at now: a new key, and the
// one before it, which signs no more but whose ID tokens live on for
// IDTokenTTL (keyRotation is far longer); older ones go.
func rotated(keys []*signingKey, now time.Time) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	sum := sha256.Sum256(der)
	keys = append(keys[max(0, len(keys)-1):len(keys):len(keys)],
		&signingKey{id: base64.RawURLEncoding.EncodeToString(sum[:12]), created: now, key: key})
	var out []storedKey
	for _, k := range keys {
		der, _ := x509.MarshalPKCS8PrivateKey(k.key)
		out = append(out, storedKey{ID: k.id, Created: k.created, Key: base64.StdEncoding.EncodeToString(der)})
	}
	return json.MarshalIndent(out, "", "  ")
}

// current is the set, refreshed from the store; if the store cannot be
// read, the set last read goes on signing and the next use tries again.
func (kr *keyring) current(ctx context.Context, now time.Time) []*signingKey {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if err := kr.refresh(ctx, now); err != nil {
		kr.log.Warn("oauth: signing keys not refreshed", "err", err)
	}
	return kr.keys
}

// signing is the key that signs now.
func (kr *keyring) signing(ctx context.Context, now time.Time) (op.SigningKey, error) {
	keys := kr.current(ctx, now)
	if len(keys) == 0 { // only a store that cannot be read nor written
		return nil, errors.New("oauth: no signing key")
	}
	return keys[len(keys)-1], nil
}

// public is the published key set.
func (kr *keyring) public(ctx context.Context, now time.Time) []op.Key {
	keys := kr.current(ctx, now)
	out := make([]op.Key, len(keys))
	for i, k := range keys {
		out[i] = publicKey{k}
	}
	return out
}
