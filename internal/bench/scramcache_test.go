package bench

import (
	"bytes"
	"testing"

	msasl "mellium.im/sasl"

	"github.com/presenced/presenced/internal/auth"
	isasl "github.com/presenced/presenced/internal/sasl"
	"github.com/presenced/presenced/internal/store"
)

// converse runs the cached client mechanism against presenced's own
// server-side SCRAM with the stored credential of u.
func converse(t *testing.T, c *ScramCache, u XMPPUser, iterations int) error {
	t.Helper()
	srv, err := isasl.NewScram(scramMechanism, isasl.Config{Lookup: func(name, mech string) (store.ScramCredential, bool) {
		return store.ScramCredential{Mechanism: mech, Salt: u.Salt, Iterations: iterations, StoredKey: u.StoredKey, ServerKey: u.ServerKey}, name == u.Local
	}})
	if err != nil {
		t.Fatal(err)
	}
	cl := msasl.NewClient(c.Mechanism(), msasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte(u.Local), []byte(u.Password), nil
	}))
	var challenge []byte
	for step := 0; step < 3; step++ {
		more, resp, err := cl.Step(challenge)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		out, _, err := srv.Step(resp)
		if err != nil {
			return err
		}
		challenge = out
	}
	t.Fatal("the conversation did not end")
	return nil
}

func TestScramCacheLogsInWithoutPBKDF2(t *testing.T) {
	pop, err := NewPopulation("t", 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range pop.Users {
		stored, server := auth.DeriveScram(auth.ScramSHA256, u.Password, u.Salt, pop.Iterations)
		if !bytes.Equal(stored, u.StoredKey) || !bytes.Equal(server, u.ServerKey) {
			t.Fatalf("%s: keys differ from presenced's derivation", u.Local)
		}
	}
	if bytes.Equal(pop.Users[0].Salt, pop.Users[1].Salt) || pop.Users[0].Password == pop.Users[1].Password {
		t.Fatal("two accounts share a salt or a password")
	}

	cold := NewScramCache()
	if err := converse(t, cold, pop.Users[0], pop.Iterations); err != nil {
		t.Fatalf("cold login: %v", err)
	}
	if err := converse(t, cold, pop.Users[0], pop.Iterations); err != nil {
		t.Fatalf("second login: %v", err)
	}
	if cold.Misses() != 1 {
		t.Fatalf("PBKDF2 ran %d times for two logins, want 1", cold.Misses())
	}

	warm := NewScramCache()
	pop.FillCache(warm)
	if err := converse(t, warm, pop.Users[1], pop.Iterations); err != nil || warm.Misses() != 0 {
		t.Fatalf("filled cache: err %v, %d PBKDF2 runs", err, warm.Misses())
	}
	// the cached value is what is used: a wrong one fails the proof
	wrong := NewScramCache()
	wrong.Put(pop.Users[2].Local, pop.Users[2].Salt, pop.Iterations, pop.Users[1].Salted)
	if err := converse(t, wrong, pop.Users[2], pop.Iterations); err == nil {
		t.Fatal("a wrong cached SaltedPassword logged in")
	}
}

func TestNeighboursRing(t *testing.T) {
	for _, c := range []struct{ n, contacts, want int }{{100, 20, 20}, {5, 20, 4}, {1, 4, 0}, {10, 3, 2}} {
		pop := &Population{Users: make([]XMPPUser, c.n), Contacts: c.contacts}
		for i := 0; i < c.n; i++ {
			nb := pop.Neighbours(i)
			if len(nb) != c.want {
				t.Fatalf("n=%d contacts=%d: %d neighbours of %d, want %d", c.n, c.contacts, len(nb), i, c.want)
			}
			for _, j := range nb {
				if j == i {
					t.Fatalf("%d is its own contact", i)
				}
				mutual := false
				for _, k := range pop.Neighbours(j) {
					mutual = mutual || k == i
				}
				if !mutual {
					t.Fatalf("%d has %d but not the other way", i, j)
				}
			}
		}
	}
}

func TestProsodyEncode(t *testing.T) {
	if got := prosodyEncode("bench.test"); got != "bench%2etest" {
		t.Fatalf("got %q", got)
	}
	if got := prosodyEncode("u_1"); got != "u%5f1" {
		t.Fatalf("got %q", got)
	}
}
