package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"

	msasl "mellium.im/sasl"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/store"
)

// accounts holds credentials derived from passwords, as the store would.
func accounts(users map[string]string) Credentials {
	creds := map[string][]store.ScramCredential{}
	for u, pw := range users {
		creds[u] = auth.NewScramCredentials(pw)
	}
	return func(username, mechanism string) (store.ScramCredential, bool) {
		for _, c := range creds[username] {
			if c.Mechanism == mechanism {
				return c, true
			}
		}
		return store.ScramCredential{}, false
	}
}

func condition(err error) string {
	var f *Failure
	if errors.As(err, &f) {
		return f.Condition
	}
	return ""
}

// TestRFCConversations replays RFC 5802 § 5 and RFC 7677 § 3 byte for byte.
func TestRFCConversations(t *testing.T) {
	for _, ex := range []struct {
		mech, salt, serverNonce, clientFirst, serverFirst, clientFinal, serverFinal string
	}{{
		auth.ScramSHA1, "QSXCR+Q6sek8bf92", "3rfcNHYJY1ZVvWVs7j",
		"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	}, {
		auth.ScramSHA256, "W22ZaJ0SNY7soEsUEjb6gQ==", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	}} {
		t.Run(ex.mech, func(t *testing.T) {
			salt, _ := base64.StdEncoding.DecodeString(ex.salt)
			stored, server := auth.DeriveScram(ex.mech, "pencil", salt, 4096)
			lookup := func(u, m string) (store.ScramCredential, bool) {
				return store.ScramCredential{Mechanism: m, Salt: salt, Iterations: 4096, StoredKey: stored, ServerKey: server}, u == "user"
			}
			s, err := NewScram(ex.mech, Config{Lookup: lookup, Nonce: func() string { return ex.serverNonce }})
			if err != nil {
				t.Fatal(err)
			}
			out, done, err := s.Step([]byte(ex.clientFirst))
			if err != nil || done || string(out) != ex.serverFirst {
				t.Fatalf("server-first %q %v %v", out, done, err)
			}
			out, done, err = s.Step([]byte(ex.clientFinal))
			if err != nil || !done || string(out) != ex.serverFinal {
				t.Fatalf("server-final %q %v %v", out, done, err)
			}
			if s.Username() != "user" {
				t.Fatal(s.Username())
			}
		})
	}
}

// run drives a conversation between a mellium.im/sasl client and our server.
func run(t *testing.T, mech msasl.Mechanism, user, password string, lookup Credentials) error {
	t.Helper()
	c := msasl.NewClient(mech, msasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte(password), nil }))
	s, err := NewScram(mech.Name, Config{Lookup: lookup, Secret: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err := c.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	for {
		out, done, err := s.Step(resp)
		if err != nil {
			return err
		}
		more, next, cerr := c.Step(out)
		if cerr != nil {
			t.Fatalf("client refused the server: %v", cerr)
		}
		if done {
			if more {
				t.Fatal("server done, client not")
			}
			return nil
		}
		resp = next
	}
}

func TestWithARealClient(t *testing.T) {
	lookup := accounts(map[string]string{"alice": "correct horse", "zoë": "pässwörd"})
	for _, mech := range []msasl.Mechanism{msasl.ScramSha1, msasl.ScramSha256} {
		t.Run(mech.Name, func(t *testing.T) {
			if err := run(t, mech, "alice", "correct horse", lookup); err != nil {
				t.Fatalf("right password: %v", err)
			}
			if err := run(t, mech, "zoë", "pässwörd", lookup); err != nil {
				t.Fatalf("non-ASCII: %v", err)
			}
			wrong := run(t, mech, "alice", "wrong horse", lookup)
			unknown := run(t, mech, "mallory", "anything", lookup)
			if condition(wrong) != "not-authorized" || wrong.Error() != unknown.Error() {
				t.Fatalf("wrong password %v vs unknown user %v: must be the same failure", wrong, unknown)
			}
		})
	}
}

func TestUnknownUsersLookReal(t *testing.T) {
	cfg := Config{Lookup: accounts(nil), Secret: []byte("k")}
	first := func() string {
		s, _ := NewScram(auth.ScramSHA256, cfg)
		out, _, err := s.Step([]byte("n,,n=ghost,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := parse(string(out))
		return p[1].v + "," + p[2].v // salt and iterations, not the nonce
	}
	a, b := first(), first()
	if a != b {
		t.Fatalf("a ghost's salt changes between attempts: %s vs %s", a, b)
	}
}

func TestMalformed(t *testing.T) {
	lookup := accounts(map[string]string{"alice": "pw-alice-1"})
	for name, msgs := range map[string][]string{
		"no gs2":            {"n=alice,r=x"},
		"bad flag":          {"q,,n=alice,r=x"},
		"no nonce":          {"n,,n=alice"},
		"bad escape":        {"n,,n=al=zz,r=x"},
		"mandatory ext":     {"n,,m=ext,n=alice,r=x"},
		"final without c":   {"n,,n=alice,r=x", "r=x,p=AAAA"},
		"nonce mismatch":    {"n,,n=alice,r=x", "c=biws,r=y,p=AAAA"},
		"proof not base64":  {"n,,n=alice,r=x", "c=biws,r=x"},
		"plus without bind": {"p=tls-exporter,,n=alice,r=x"},
		"oversized":         {string(make([]byte, 5000))},
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := NewScram(auth.ScramSHA256, Config{Lookup: lookup, Nonce: func() string { return "" }})
			var err error
			for _, m := range msgs {
				if _, _, err = s.Step([]byte(m)); err != nil {
					break
				}
			}
			if c := condition(err); c != "malformed-request" && c != "not-authorized" {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestDowngradeRefused(t *testing.T) {
	s, _ := NewScram(auth.ScramSHA256, Config{Lookup: accounts(nil), OffersPlus: true})
	if _, _, err := s.Step([]byte("y,,n=alice,r=x")); condition(err) != "not-authorized" {
		t.Fatalf("a client that believes we lack channel binding, while we offered it: %v", err)
	}
}

// TestChannelBinding plays a SCRAM-SHA-256-PLUS client by hand.
func TestChannelBinding(t *testing.T) {
	lookup := accounts(map[string]string{"alice": "pw-alice-1"})
	cbData := []byte("exporter-bytes")
	cfg := Config{Lookup: lookup, OffersPlus: true, ChannelBinding: func(typ string) ([]byte, bool) {
		return cbData, typ == "tls-exporter"
	}}
	try := func(clientCB []byte) error {
		s, err := NewScram(auth.ScramSHA256+"-PLUS", cfg)
		if err != nil {
			t.Fatal(err)
		}
		gs2 := "p=tls-exporter,,"
		bare := "n=alice,r=cnonce"
		out, _, err := s.Step([]byte(gs2 + bare))
		if err != nil {
			return err
		}
		p, _ := parse(string(out))
		salt, _ := base64.StdEncoding.DecodeString(p[1].v)
		salted, _ := pbkdf2.Key(sha256.New, "pw-alice-1", salt, auth.ScramIterations, 32)
		clientKey := hmacOf(salted, "Client Key")
		storedKey := sha256.Sum256(clientKey)
		final := "c=" + base64.StdEncoding.EncodeToString(append([]byte(gs2), clientCB...)) + ",r=" + p[0].v
		sig := hmacOf(storedKey[:], bare+","+string(out)+","+final)
		proof := make([]byte, len(sig))
		for i := range sig {
			proof[i] = clientKey[i] ^ sig[i]
		}
		_, done, err := s.Step([]byte(final + ",p=" + base64.StdEncoding.EncodeToString(proof)))
		if err == nil && !done {
			t.Fatal("not done")
		}
		return err
	}
	if err := try(cbData); err != nil {
		t.Fatalf("matching channel binding: %v", err)
	}
	if err := try([]byte("another connection")); condition(err) != "not-authorized" {
		t.Fatalf("mismatched channel binding: %v", err)
	}
	if _, err := NewScram(auth.ScramSHA256+"-PLUS", Config{Lookup: lookup}); condition(err) != "invalid-mechanism" {
		t.Fatalf("-PLUS without TLS: %v", err)
	}
}

func hmacOf(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func FuzzScram(f *testing.F) {
	f.Add("n,,n=alice,r=abc", "c=biws,r=abcxyz,p=AAAA")
	f.Add("y,a=bob,n=al=2Cice,r=", "c=,r=,p=")
	lookup := accounts(map[string]string{"alice": "pw-alice-1"})
	f.Fuzz(func(t *testing.T, first, final string) {
		s, _ := NewScram(auth.ScramSHA256, Config{Lookup: lookup, Nonce: func() string { return "xyz" }})
		if _, _, err := s.Step([]byte(first)); err != nil {
			if condition(err) == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if _, done, err := s.Step([]byte(final)); err == nil || done {
			t.Fatalf("random input authenticated: %q %q", first, final)
		}
	})
}
