package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	msasl "mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/identity"
	"github.com/presenced/presenced/internal/identity/oidctest"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
)

// balancer is a load balancer in front of a cluster's nodes, sending every
// request to the node the test chose last.
type balancer struct {
	*httptest.Server
	to atomic.Pointer[url.URL]
}

func newBalancer(t *testing.T) *balancer {
	b := &balancer{}
	b.Server = httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(b.to.Load()) }})
	t.Cleanup(b.Close)
	return b
}

// send makes the balancer send what follows to ts.
func (b *balancer) send(t *testing.T, ts *testServer) {
	u, err := url.Parse(ts.URL)
	must(t, err)
	b.to.Store(u)
}

// TestClusterSharesKeys: two nodes on one PostgreSQL and NATS, behind a
// load balancer, with no other setting in common, are one server to a
// user and an app: an external sign-in started on one is called back on
// the other; an OAuth code flow begun on one ends on the other,
// whose ID token verifies against the first's key set, and its code
// replayed on the first is refused and revokes what it gave; a sign-in
// form of one is accepted by the other; both give the same Web Push key,
// the same XMPP certificate, and the same SCRAM salt for an unknown user
// (as for a real one: else they would tell which accounts exist); a
// signing key due for rotation is rotated once, and both publish the new
// key and the retired one. Skipped unless PRESENCED_TEST_POSTGRES is set.
func TestClusterSharesKeys(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := tctx(t)
	db, _ := pgAccounts(t, ctx, dsn, "alice")
	retired := seedDueSigningKey(t, ctx, db)
	nats := embeddedNATS(t).ClientURL()
	lb := newBalancer(t)
	idp := oidctest.Start(t)
	node := func(c *config.Config) {
		c.Store, c.NATS, c.PublicURL, c.XMPPAddr = dsn, []string{nats}, lb.URL, "127.0.0.1:0"
		c.IdentityProviders = []config.IdentityProvider{{Name: "Test IdP", Issuer: idp.URL, ClientID: presencedAtIdP, ClientSecret: "idp-secret"}}
	}
	one, two := startServer(t, node), startServer(t, node)
	waitReady(t, one)
	waitReady(t, two)
	idp.AddClient(presencedAtIdP, "idp-secret", lb.URL+identity.PathCallback)

	// "sign in with" an external provider: started on one, the
	// provider's redirect back reaching two
	lb.send(t, one)
	idp.SignInAs(oidctest.User{Subject: "ext-alice", Email: "alice@localhost", EmailVerified: true})
	ext := jarClient()
	ext.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == identity.PathCallback {
			lb.send(t, two)
		}
		return nil
	}
	resp, err := ext.Get(lb.URL + identity.PathSignIn + "?issuer=" + url.QueryEscape(idp.URL))
	must(t, err)
	resp.Body.Close()
	if who := signedInAs(t, two, ext); resp.StatusCode != http.StatusOK || who != "alice@localhost" {
		t.Fatalf("an external sign-in started on node one, called back on node two: %d, signed in as %q", resp.StatusCode, who)
	}

	// the code flow: authorize and consent page on one, consent answered
	// on two, the code exchanged on two, the ID token checked with one's keys
	lb.send(t, one)
	app, _ := registerApp(t, one, "Chat", true, "presence:read")
	provider, err := oidc.NewProvider(ctx, lb.URL) // the issuer is the balancer's URL
	must(t, err)
	conf := &oauth2.Config{ClientID: app, Endpoint: provider.Endpoint(), RedirectURL: appRedirect,
		Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess, "presence:read"}}
	verifier, nonce := oauth2.GenerateVerifier(), randomString(8)
	browser := newBrowser(t)
	status, page := browser.open(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)))
	if status != http.StatusOK || !strings.Contains(page, "Allow") {
		t.Fatalf("consent page of node one: %d %s", status, page)
	}
	lb.send(t, two)
	browser.landed = nil
	if status, page := browser.consent(two.URL+"/oauth/consent", page, "allow", "alice@localhost", "password-alice"); browser.landed == nil {
		t.Fatalf("node two answering node one's consent page: %d %s", status, page)
	}
	code := browser.landed.Query().Get("code")
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("node two exchanging node one's code: %v", err)
	}
	lb.send(t, one)
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: app}).Verify(ctx, raw)
	if err != nil || idt.Nonce != nonce {
		t.Fatalf("node two's ID token against node one's keys: %v", err)
	}
	var re *oauth2.RetrieveError
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("the code replayed on node one: %v, want invalid_grant", err)
	}
	lb.send(t, two)
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
		t.Fatal("what the replayed code gave still works on node two")
	}

	// rotation: one node replaced the due key, both publish the same set
	jwks := map[string][]string{}
	for name, ts := range map[string]*testServer{"one": one, "two": two} {
		jwks[name] = keyIDs(t, ts.URL+"/oauth/keys")
	}
	if len(jwks["one"]) != 2 || jwks["one"][0] != retired || strings.Join(jwks["one"], " ") != strings.Join(jwks["two"], " ") {
		t.Fatalf("published keys: node one %v, node two %v; want the same, the retired %s and one new", jwks["one"], jwks["two"], retired)
	}
	if kid := tokenKeyID(t, raw); kid != jwks["one"][1] {
		t.Fatalf("the ID token is signed with %s, want the new key %s", kid, jwks["one"][1])
	}

	// the web page's sign-in form: the CSRF cookie of one, posted to two
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	resp, err = web.Get(one.URL + "/")
	must(t, err)
	resp.Body.Close()
	var csrf string
	for _, c := range jar.Cookies(mustURL(one.URL)) {
		if c.Name == "presenced_csrf" {
			csrf = c.Value
		}
	}
	req, _ := http.NewRequest("POST", two.URL+"/web/login", strings.NewReader(`{"address":"alice@localhost","password":"password-alice"}`))
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err = web.Do(req)
	must(t, err)
	resp.Body.Close()
	if csrf == "" || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("node one's sign-in form posted to node two: %d (csrf %q)", resp.StatusCode, csrf)
	}

	// Web Push: one key for both
	var keys [2]string
	for i, ts := range []*testServer{one, two} {
		c, err := client.Login(ctx, ts.URL, "alice@localhost", "password-alice")
		must(t, err)
		var k struct{ Key string }
		must(t, c.Do(ctx, "GET", "/v1/push/key", nil, &k))
		keys[i] = k.Key
	}
	if keys[0] == "" || keys[0] != keys[1] {
		t.Fatalf("VAPID public keys %q and %q", keys[0], keys[1])
	}

	// XMPP: node one's certificate (its data directory's copy) is node
	// two's, and SCRAM's first challenge is the same on both
	pemBytes, err := os.ReadFile(filepath.Join(one.Config.DataDir, XMPPCertFile))
	must(t, err)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("node one's certificate unreadable")
	}
	for _, user := range []string{"nobody", "alice"} {
		a, b := scramSalt(t, one, roots, user), scramSalt(t, two, roots, user)
		if a == "" || a != b {
			t.Errorf("SCRAM for %s: node one says %q, node two %q", user, a, b)
		}
	}
}

// seedDueSigningKey stores an OAuth signing key set whose only key is 31
// days old, as a deployment's store holds it when rotation is due, and
// returns the key's ID.
func seedDueSigningKey(t *testing.T, ctx context.Context, db interface {
	CreateSecret(context.Context, string, []byte) ([]byte, error)
}) string {
	set := signingKeySet(t, "retired-key", time.Now().Add(-31*24*time.Hour))
	_, err := db.CreateSecret(ctx, "oauth-keys", set)
	must(t, err)
	return "retired-key"
}

// signingKeySet is an OAuth signing key set of one new RSA key, as
// presenced keeps it (and kept it in the data directory's oauth-keys.json).
func signingKeySet(t *testing.T, id string, created time.Time) []byte {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	set, _ := json.Marshal([]map[string]any{{"id": id, "created": created, "key": base64.StdEncoding.EncodeToString(der)}})
	return set
}

// keyIDs are the key IDs of a JWKS document, in its order.
func keyIDs(t *testing.T, u string) []string {
	t.Helper()
	resp, err := http.Get(u)
	must(t, err)
	defer resp.Body.Close()
	var set struct{ Keys []struct{ Kid string } }
	must(t, json.NewDecoder(resp.Body).Decode(&set))
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.Kid)
	}
	return ids
}

// tokenKeyID is the kid of a JWT's header.
func tokenKeyID(t *testing.T, jwt string) string {
	head, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	must(t, err)
	var h struct{ Kid string }
	must(t, json.Unmarshal(b, &h))
	return h.Kid
}

// scramSalt is the salt and iteration count ts's XMPP listener sends to
// an XMPP client (mellium's, trusting roots) starting SCRAM-SHA-1 as
// user: the client stops after the server's first message.
func scramSalt(t *testing.T, ts *testServer, roots *x509.CertPool, user string) string {
	t.Helper()
	var first []byte
	errStop := errors.New("stop after the server-first message")
	capture := msasl.Mechanism{Name: "SCRAM-SHA-1",
		Start: func(*msasl.Negotiator) (bool, []byte, any, error) {
			return true, []byte("n,,n=" + user + ",r=" + randomString(18)), nil, nil
		},
		Next: func(_ *msasl.Negotiator, challenge []byte, _ any) (bool, []byte, any, error) {
			first = bytes.Clone(challenge)
			return false, nil, nil, errStop
		}}
	conn, err := net.Dial("tcp", ts.xmppAddrs[0])
	must(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = xmpp.NewClientSession(ctx, jid.MustParse(user+"@localhost"), conn,
		xmpp.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: roots}), xmpp.SASL("", "x", capture))
	if !errors.Is(err, errStop) {
		t.Fatalf("SCRAM as %s on %s: %v (the TLS certificate must be node one's)", user, ts.URL, err)
	}
	var salt, iterations string
	for _, f := range strings.Split(string(first), ",") {
		switch {
		case strings.HasPrefix(f, "s="):
			salt = f
		case strings.HasPrefix(f, "i="):
			iterations = f
		}
	}
	return salt + "," + iterations
}
