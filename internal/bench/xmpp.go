package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/presenced/presenced/internal/server"
)

// XMPPIdle is Idle over XMPP: n clients (mellium.im/xmpp) negotiate
// STARTTLS (TLS 1.3), SCRAM-SHA-256 and a resource, fetch their roster,
// send initial presence, then idle. Each account has its own password and
// salt and contacts mutual contacts (its neighbours in a ring of
// accounts), so logins fetch real rosters and presence flows between the
// sessions. The clients hold each account's SaltedPassword, as real
// clients keep it after their first login: the cache is filled before the
// run, so no login computes PBKDF2 on the load generator's side.
func XMPPIdle(ctx context.Context, bin string, n, contacts int, idleFor time.Duration, log io.Writer) (IdleResult, error) {
	fmt.Fprintf(log, "deriving %d accounts' credentials (distinct passwords and salts)…\n", n)
	pop, err := NewPopulation("idle", n, contacts) // the names Prepare gives
	if err != nil {
		return IdleResult{}, err
	}
	cache := NewScramCache()
	pop.FillCache(cache)
	index := map[string]int{}
	for i, u := range pop.Users {
		index[u.JID()] = i
	}
	var clients *xmppClients
	prepare := func(dir string, accts []Account) ([]string, error) {
		st, err := server.OpenStore(ctx, dir)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		fmt.Fprintf(log, "setting SCRAM credentials and %d contacts each…\n", contacts)
		if err := storePopulation(ctx, st, pop, true, log); err != nil {
			return nil, err
		}
		if err := writeFiles(map[string][]byte{
			filepath.Join(dir, server.XMPPCertFile): pop.CertPEM,
			filepath.Join(dir, server.XMPPKeyFile):  pop.KeyPEM,
		}); err != nil {
			return nil, err
		}
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		clients = newXMPPClients(addr, pop, cache)
		return []string{"--xmpp-addr", addr}, nil
	}
	connect := func(rig *Rig, a Account) (io.Closer, error) {
		i, ok := index[a.Address]
		if !ok {
			return nil, fmt.Errorf("no credentials for %s", a.Address)
		}
		return clients.login(ctx, i)
	}
	res, err := idle(ctx, bin, n, idleFor, log, prepare, connect)
	if err == nil && cache.Misses() > 0 {
		fmt.Fprintf(os.Stderr, "warning: %d logins computed PBKDF2 (SCRAM cache missed)\n", cache.Misses())
	}
	return res, err
}
