// Package pushtest is a Web Push service on loopback for tests: it checks
// each post's VAPID signature (RFC 8292) and decrypts it (RFC 8291, RFC
// 8188) with the device's keys, all written from the RFCs, independently of
// the library presenced sends with.
package pushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Device is a browser's side of a subscription: its key pair and secret.
type Device struct {
	priv *ecdh.PrivateKey
	auth []byte
}

// NewDevice makes a device with a new key pair and secret.
func NewDevice(t testing.TB) Device {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return Device{priv, auth}
}

// Keys are the device's p256dh and auth, base64url, as a browser gives them.
func (d Device) Keys() (string, string) {
	return base64.RawURLEncoding.EncodeToString(d.priv.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(d.auth)
}

// Decrypt opens an aes128gcm body (RFC 8188) encrypted for d (RFC 8291),
// written here from the RFCs, independently of webpush-go.
func (d Device) Decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("short body")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, errors.New("bad key id")
	}
	asPublic, ct := body[21:21+idlen], body[21+idlen:]
	if uint32(len(ct)) > rs {
		return nil, errors.New("more than one record")
	}
	as, err := ecdh.P256().NewPublicKey(asPublic)
	if err != nil {
		return nil, err
	}
	secret, err := d.priv.ECDH(as)
	if err != nil {
		return nil, err
	}
	info := append(append([]byte("WebPush: info\x00"), d.priv.PublicKey().Bytes()...), asPublic...)
	ikm, err := hkdf.Key(sha256.New, secret, d.auth, string(info), 32)
	if err != nil {
		return nil, err
	}
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		return nil, err
	}
	end := len(plain) - 1
	for end >= 0 && plain[end] == 0 {
		end--
	}
	if end < 0 || plain[end] != 2 {
		return nil, errors.New("no last-record delimiter")
	}
	return plain[:end], nil
}

// Service is a push service on loopback: it checks each post's VAPID
// signature (RFC 8292) against the server's key and decrypts it for the
// device it names; answer decides the status of each post.
type Service struct {
	t   testing.TB
	Srv *httptest.Server
	key string // the server's VAPID public key it must be signed with
	sub string
	dev map[string]Device
	// Answer decides the status of the n-th post (from 1); 201 by default.
	Answer func(n int) int
	mu     sync.Mutex
	posts  int
	got    []Received
}

// Received is a notification the service took, decrypted.
type Received struct {
	Device  string
	Payload []byte
	TTL     string
	Urgency string
}

// New starts a push service for a server whose VAPID public key is key
// and subject subject.
func New(t testing.TB, key, subject string) *Service {
	p := &Service{t: t, key: key, sub: subject, dev: map[string]Device{}, Answer: func(int) int { return http.StatusCreated }}
	p.Srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Srv.Close)
	return p
}

// Add makes a device known under name and returns its endpoint URL.
func (p *Service) Add(name string, d Device) string {
	p.mu.Lock()
	p.dev[name] = d
	p.mu.Unlock()
	return p.Srv.URL + "/push/" + name
}

func (p *Service) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.posts++
	n := p.posts
	p.mu.Unlock()
	name := strings.TrimPrefix(r.URL.Path, "/push/")
	p.mu.Lock()
	d, ok := p.dev[name]
	p.mu.Unlock()
	if !ok || r.Method != http.MethodPost || r.Header.Get("Content-Encoding") != "aes128gcm" {
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	if err := p.checkVAPID(r.Header.Get("Authorization")); err != nil {
		p.t.Errorf("VAPID: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	plain, err := d.Decrypt(body)
	if err != nil {
		p.t.Errorf("decrypting: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	status := p.Answer(n)
	if status == http.StatusCreated {
		p.mu.Lock()
		p.got = append(p.got, Received{Device: name, Payload: plain, TTL: r.Header.Get("TTL"), Urgency: r.Header.Get("Urgency")})
		p.mu.Unlock()
	}
	w.WriteHeader(status)
}

// checkVAPID verifies "vapid t=JWT, k=KEY": k is the server's key, the
// JWT is ES256 under it, for this origin, not expired, with the subject.
func (p *Service) checkVAPID(h string) error {
	var tok, k string
	for _, part := range strings.Split(strings.TrimPrefix(h, "vapid "), ",") {
		part = strings.TrimSpace(part)
		switch {
		case strings.HasPrefix(part, "t="):
			tok = part[2:]
		case strings.HasPrefix(part, "k="):
			k = part[2:]
		}
	}
	if k != p.key {
		return fmt.Errorf("signed with key %q, not the server's", k)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	pub, _ := base64.RawURLEncoding.DecodeString(k)
	x, y := elliptic.Unmarshal(elliptic.P256(), pub)
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if x == nil || len(sig) != 64 || !ecdsa.Verify(&ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return errors.New("bad ES256 signature")
	}
	var hdr struct{ Alg string }
	b, _ := base64.RawURLEncoding.DecodeString(parts[0])
	json.Unmarshal(b, &hdr)
	var claims struct {
		Aud string
		Exp int64
		Sub string
	}
	b, _ = base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(b, &claims)
	exp := time.Unix(claims.Exp, 0)
	switch {
	case hdr.Alg != "ES256":
		return fmt.Errorf("alg %q", hdr.Alg)
	case claims.Aud != p.Srv.URL:
		return fmt.Errorf("aud %q, want %q", claims.Aud, p.Srv.URL)
	case time.Until(exp) <= 0 || time.Until(exp) > 24*time.Hour:
		return fmt.Errorf("exp %v", exp)
	case claims.Sub != p.sub:
		return fmt.Errorf("sub %q", claims.Sub)
	}
	return nil
}

// Posts counts the posts received, taken or not.
func (p *Service) Posts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.posts
}

// Taken lists the notifications taken so far.
func (p *Service) Taken() []Received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Received(nil), p.got...)
}
