package bench

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/selfsigned"
)

// xmppDomain is the domain every XMPP server under test serves.
const xmppDomain = "bench.test"

// XMPPUser is one account of a Population, with what every server stores
// for it (salt, iteration count, StoredKey, ServerKey: SCRAM credentials
// hashed at rest, never the password) and what its client knows.
type XMPPUser struct {
	Local     string // prefix0, prefix1, …
	Password  string // distinct per account
	Salt      []byte // distinct per account; ASCII (hex), as Prosody keeps salts as text
	Salted    []byte // SaltedPassword, which the client caches
	StoredKey []byte
	ServerKey []byte
}

// JID is the account's bare address.
func (u XMPPUser) JID() string { return u.Local + "@" + xmppDomain }

// Population is what every server under test is given alike: the same
// accounts, passwords, salts, rosters and certificate.
type Population struct {
	Users      []XMPPUser
	Contacts   int // asked for; Neighbours(i) has fewer when there are too few accounts
	Iterations int
	CertPEM    []byte // self-signed for xmppDomain, ECDSA P-256
	KeyPEM     []byte
}

// NewPopulation derives n accounts named prefix0, prefix1, … (PBKDF2 for
// each, on every core) and a certificate.
func NewPopulation(prefix string, n, contacts int) (*Population, error) {
	if n < 1 || contacts < 0 {
		return nil, fmt.Errorf("population: %d accounts with %d contacts", n, contacts)
	}
	p := &Population{Users: make([]XMPPUser, n), Contacts: contacts, Iterations: auth.ScramIterations}
	var err error
	if p.CertPEM, p.KeyPEM, err = selfsigned.New(xmppDomain, 30*24*time.Hour); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				u := &p.Users[i]
				u.Local = fmt.Sprintf("%s%d", prefix, i)
				u.Password = randomHex(12)
				u.Salt = []byte(randomHex(16))
				u.Salted, _ = pbkdf2.Key(sha256.New, u.Password, u.Salt, p.Iterations, sha256.Size)
				_, u.StoredKey, u.ServerKey = scramKeys(u.Salted)
			}
		}()
	}
	for i := range p.Users {
		work <- i
	}
	close(work)
	wg.Wait()
	return p, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Neighbours are account i's contacts: its Contacts/2 neighbours on each
// side in a ring of the accounts, every pair mutual (subscription both).
func (p *Population) Neighbours(i int) []int {
	n := len(p.Users)
	seen := map[int]bool{i: true}
	var out []int
	for d := 1; d <= p.Contacts/2; d++ {
		for _, j := range []int{(i + d) % n, ((i-d)%n + n) % n} {
			if !seen[j] {
				seen[j] = true
				out = append(out, j)
			}
		}
	}
	return out
}

// FillCache puts every account's SaltedPassword in c, as a client that has
// logged in once before holds it.
func (p *Population) FillCache(c *ScramCache) {
	for _, u := range p.Users {
		c.Put(u.Local, u.Salt, p.Iterations, u.Salted)
	}
}
