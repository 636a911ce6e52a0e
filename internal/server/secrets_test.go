package server

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/oauth"
	"github.com/presenced/presenced/internal/selfsigned"
	"github.com/presenced/presenced/internal/webpush"
)

// TestUpgradeTakesKeyFiles: a data directory of a presenced that kept its
// secrets in files (secret.key, vapid-keys.json, oauth-keys.json, the XMPP
// certificate) has them taken into the store on the first start, so the
// CSRF cookies, Web Push subscriptions, ID tokens and trusted certificate
// made with them stay valid; later starts read the store, the files gone.
func TestUpgradeTakesKeyFiles(t *testing.T) {
	dir := t.TempDir()
	secret := make([]byte, 32)
	rand.Read(secret)
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	must(t, err)
	vapid := webpush.Keys{Private: base64.RawURLEncoding.EncodeToString(priv.Bytes()), Public: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes())}
	vapidJSON, _ := json.Marshal(vapid)
	certPEM, keyPEM, err := selfsigned.ForHosts([]string{"localhost"}, time.Hour)
	must(t, err)
	files := map[string][]byte{KeyFile: secret, webpush.KeyFile: vapidJSON, oauth.KeyFile: signingKeySet(t, "old-key", time.Now().Add(-time.Hour)),
		XMPPCertFile: certPEM, XMPPKeyFile: keyPEM}
	for name, b := range files {
		must(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	ts := startServer(t, func(c *config.Config) { c.DataDir, c.XMPPAddr = dir, "127.0.0.1:0" })
	check := func(when string) {
		t.Helper()
		waitReady(t, ts)
		if !bytes.Equal(ts.key, secret) {
			t.Errorf("%s: the server secret is not secret.key's", when)
		}
		if ts.Push.Keys != vapid {
			t.Errorf("%s: VAPID keys %v, want vapid-keys.json's %v", when, ts.Push.Keys, vapid)
		}
		if ids := keyIDs(t, ts.URL+"/oauth/keys"); !slices.Equal(ids, []string{"old-key"}) {
			t.Errorf("%s: published signing keys %v, want oauth-keys.json's old-key alone", when, ids)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(certPEM)
		scramSalt(t, ts, roots, "nobody") // fails unless STARTTLS offers xmpp-cert.pem's certificate
	}
	check("first start")
	for name := range files {
		must(t, os.Remove(filepath.Join(dir, name)))
	}
	ts.restart(t)
	check("after a restart without the files")
}
