package roomtoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/presenced/presenced/internal/store"
)

const aud = "https://presence.example"

var verifier = Verifier{Audience: func() string { return aud }}

func publicJWK(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: pub})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type claims struct {
	jwt.Claims
	Room string `json:"room,omitempty"`
}

func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, c claims) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func good(exp time.Time) claims {
	return claims{Claims: jwt.Claims{Issuer: "game", Audience: jwt.Audience{aud}, Subject: "h-alice", Expiry: jwt.NewNumericDate(exp)}, Room: "lobby"}
}

// TestVerifyEachKind: a token signed by each kind of key verifies against
// its public half and says what was signed.
func TestVerifyEachKind(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, ed, _ := ed25519.GenerateKey(rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	exp := time.Now().Add(time.Minute).Truncate(time.Second)
	for _, k := range []struct {
		alg  jose.SignatureAlgorithm
		priv any
		pub  crypto.PublicKey
	}{{jose.ES256, ec, &ec.PublicKey}, {jose.EdDSA, ed, edPub}, {jose.RS256, rs, &rs.PublicKey}} {
		app := store.App{ID: "game", RoomKey: publicJWK(t, k.pub)}
		got, err := verifier.VerifyRoomToken(app, sign(t, k.alg, k.priv, good(exp)))
		if err != nil || got.Subject != "h-alice" || got.Room != "lobby" || !got.Expires.Equal(exp) {
			t.Fatalf("%s: %+v %v", k.alg, got, err)
		}
	}
}

// TestRefused: forged, misdirected, unbounded and malformed tokens are
// refused, each saying why.
func TestRefused(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	app := store.App{ID: "game", RoomKey: publicJWK(t, &ec.PublicKey)}
	exp := time.Now().Add(time.Minute)
	with := func(edit func(*claims)) claims {
		c := good(exp)
		edit(&c)
		return c
	}
	// HS256 keyed with the public key's JSON: the classic confusion attack
	hmacKey := app.RoomKey
	noneTok := strings.Join([]string{b64(`{"alg":"none"}`), b64(`{"iss":"game","aud":"` + aud + `","sub":"h-alice","room":"lobby","exp":9999999999}`), ""}, ".")
	for name, tok := range map[string]string{
		"another key":        sign(t, jose.ES256, other, good(exp)),
		"hmac with the jwk":  sign(t, jose.HS256, hmacKey, good(exp)),
		"alg none":           noneTok,
		"another issuer":     sign(t, jose.ES256, ec, with(func(c *claims) { c.Issuer = "other" })),
		"another server":     sign(t, jose.ES256, ec, with(func(c *claims) { c.Audience = jwt.Audience{"https://elsewhere.example"} })),
		"no expiry":          sign(t, jose.ES256, ec, with(func(c *claims) { c.Expiry = nil })),
		"no room":            sign(t, jose.ES256, ec, with(func(c *claims) { c.Room = "" })),
		"no subject":         sign(t, jose.ES256, ec, with(func(c *claims) { c.Subject = "" })),
		"garbage":            "not.a.jwt",
		"empty":              "",
		"signature tampered": sign(t, jose.ES256, ec, good(exp)) + "A",
	} {
		if got, err := verifier.VerifyRoomToken(app, tok); err == nil {
			t.Errorf("%s: accepted %+v", name, got)
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestParseKey: only public keys of the accepted kinds and sizes.
func TestParseKey(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	private, _ := json.Marshal(jose.JSONWebKey{Key: ec})
	if _, err := ParseKey(publicJWK(t, &ec.PublicKey)); err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string][]byte{
		"private":   private,
		"P-384":     publicJWK(t, &p384.PublicKey),
		"RSA-1024":  publicJWK(t, &small.PublicKey),
		"symmetric": []byte(`{"kty":"oct","k":"c2VjcmV0"}`),
		"not JSON":  []byte(`{`),
		"too big":   []byte(`{"kty":"EC","x":"` + strings.Repeat("A", MaxKeySize) + `"}`),
	} {
		if _, err := ParseKey(raw); err == nil || !strings.HasPrefix(err.Error(), "room_key: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzVerify: no key or token crashes the verifier.
func FuzzVerify(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Add(publicJWK(f, &ec.PublicKey), sign(f, jose.ES256, ec, good(time.Now().Add(time.Hour))))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`), "e30.e30.")
	f.Fuzz(func(t *testing.T, key []byte, token string) {
		verifier.VerifyRoomToken(store.App{ID: "game", RoomKey: key}, token)
	})
}
