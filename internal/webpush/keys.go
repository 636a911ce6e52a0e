package webpush

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/presenced/presenced/internal/store"
)

// KeyFile is the VAPID key pair's file in a data directory (RFC 8292) of
// an older presenced: LoadKeys takes it into the store.
const KeyFile = "vapid-keys.json"

// SecretName names the VAPID key pair among the store's secrets. It is
// the server's identity towards push services and every subscription is
// made for its public key, so every node must send with the one pair and
// it must survive restarts: losing it means every device subscribes again.
const SecretName = "vapid-keys"

// Keys is a VAPID key pair: base64url (no padding) of the P-256 private
// scalar and of the uncompressed public point, as browsers and
// webpush-go take them.
type Keys struct {
	Private string `json:"private"`
	Public  string `json:"public"`
}

// LoadKeys returns the deployment's key pair from s. When s has none
// yet, it takes the pair of dir's KeyFile if there is one (so the
// subscriptions made for it stay valid), or else makes one.
func LoadKeys(ctx context.Context, s store.Secrets, dir string) (Keys, error) {
	b, err := store.SecretOrMake(ctx, s, SecretName, func() ([]byte, error) {
		path := filepath.Join(dir, KeyFile)
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return newKeys()
		}
		if err == nil {
			_, err = parseKeys(b)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return b, nil
	})
	if err != nil {
		return Keys{}, fmt.Errorf("vapid keys: %w", err)
	}
	k, err := parseKeys(b)
	if err != nil {
		return Keys{}, fmt.Errorf("vapid keys in the store: %w", err)
	}
	return k, nil
}

func parseKeys(b []byte) (Keys, error) {
	var k Keys
	if err := json.Unmarshal(b, &k); err != nil {
		return Keys{}, err
	}
	return k, k.check()
}

func newKeys() ([]byte, error) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	k := Keys{Private: base64.RawURLEncoding.EncodeToString(priv.Bytes()), Public: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes())}
	return json.Marshal(k)
}

// check: the private scalar is a P-256 key and the public point is its.
func (k Keys) check() error {
	d, err := base64.RawURLEncoding.DecodeString(k.Private)
	if err != nil {
		return errors.New("the private key is not base64url")
	}
	priv, err := ecdh.P256().NewPrivateKey(d)
	if err != nil {
		return fmt.Errorf("the private key: %w", err)
	}
	if base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()) != k.Public {
		return errors.New("the public key is not the private key's")
	}
	return nil
}
