package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/selfsigned"
)

// TestFederationByCertificates: two servers whose certificates verify
// only through s2s_ca_file (here each trusts the other's self-signed
// certificate as its root), with dialback off (no s2s_dialback), federate
// by SASL EXTERNAL: without the setting they could not federate at all.
func TestFederationByCertificates(t *testing.T) {
	dirs := map[string]string{"a.test": t.TempDir(), "b.test": t.TempDir()}
	var roots []byte
	for domain, dir := range dirs { // the certificates each server would generate, made first (taken into its store)
		certPEM, keyPEM, err := selfsigned.ForHosts([]string{domain}, time.Hour)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, XMPPKeyFile), keyPEM, 0o600))
		must(t, os.WriteFile(filepath.Join(dir, XMPPCertFile), certPEM, 0o644))
		pem, err := os.ReadFile(filepath.Join(dir, XMPPCertFile))
		must(t, err)
		roots = append(roots, pem...)
	}
	caFile := filepath.Join(t.TempDir(), "federation-ca.pem")
	must(t, os.WriteFile(caFile, roots, 0o644))
	aS2S, bS2S := freeAddr(t), freeAddr(t)
	routes := map[string]string{"a.test": aS2S, "b.test": bS2S}
	start := func(domain, s2sAddr string) *testServer {
		ts := startServer(t, func(c *config.Config) {
			c.DataDir, c.Domain, c.S2SAddr, c.S2SRoutes, c.S2SCAFile = dirs[domain], domain, s2sAddr, routes, caFile
		})
		waitReady(t, ts)
		return ts
	}
	a, b := start("a.test", aS2S), start("b.test", bS2S)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alice, bob := a.account(t, "alice@a.test"), b.account(t, "bob@b.test")
	aws, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	bws, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	_, err = alice.SubscriptionAction(ctx, "bob@b.test", "subscribe")
	must(t, err)
	_, err = bws.WaitFor(ctx, func(f client.Frame) bool {
		return f.Type == "subscription" && strings.Contains(string(f.Raw), "alice@a.test")
	})
	must(t, err)
	_, err = bob.SubscriptionAction(ctx, "alice@a.test", "approve")
	must(t, err)
	_, err = aws.WaitFor(ctx, presenceIs("bob@b.test", "available"))
	must(t, err)
}
