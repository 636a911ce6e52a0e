package webpush

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// KeyFile is the VAPID key pair's file in the data directory (RFC 8292):
// the server's identity towards push services. Every subscription is made
// for the public key, so it must survive restarts; losing it means every
// device subscribes again.
const KeyFile = "vapid-keys.json"

// Keys is a VAPID key pair: base64url (no padding) of the P-256 private
// scalar and of the uncompressed public point, as browsers and
// webpush-go take them.
type Keys struct {
	Private string `json:"private"`
	Public  string `json:"public"`
}

// LoadKeys reads dir's key pair, making one on first use.
func LoadKeys(dir string) (Keys, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return newKeys(path)
	}
	if err != nil {
		return Keys{}, err
	}
	var k Keys
	if err := json.Unmarshal(b, &k); err != nil {
		return Keys{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := k.check(); err != nil {
		return Keys{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func newKeys(path string) (Keys, error) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return Keys{}, err
	}
	k := Keys{Private: base64.RawURLEncoding.EncodeToString(priv.Bytes()), Public: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes())}
	b, _ := json.Marshal(k)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return Keys{}, err
	}
	return k, os.Rename(tmp, path)
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
