package bench

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/server"
	"github.com/presenced/presenced/internal/store"
)

// presencedServer is the presenced binary, through the Rig.
type presencedServer struct{ bin string }

func (presencedServer) Name() string { return "presenced" }

func (s presencedServer) Version() string {
	out, err := exec.Command(s.bin, "version").Output()
	if err != nil {
		return "(unknown)"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "presenced ")
}

func (presencedServer) Settings() string {
	return "embedded SQLite (WAL, synchronous=FULL), log level warn, no rate limits on sessions"
}

// Provision stores the accounts, with their SCRAM-SHA-256 credential only,
// and each pair of neighbours as two approved relations (subscription
// both), straight into the data directory's database.
func (presencedServer) Provision(ctx context.Context, pop *Population, dir string, log io.Writer) error {
	st, err := server.OpenStore(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := storePopulation(ctx, st, pop, false, log); err != nil {
		return err
	}
	return writeFiles(map[string][]byte{
		filepath.Join(dir, server.XMPPCertFile): pop.CertPEM,
		filepath.Join(dir, server.XMPPKeyFile):  pop.KeyPEM,
	})
}

// storePopulation writes pop's accounts (or, when they exist, their
// credentials) and relations into st.
func storePopulation(ctx context.Context, st store.Store, pop *Population, exist bool, log io.Writer) error {
	now := time.Now()
	for i, u := range pop.Users {
		creds := []store.ScramCredential{{Mechanism: auth.ScramSHA256, Salt: u.Salt, Iterations: pop.Iterations, StoredKey: u.StoredKey, ServerKey: u.ServerKey}}
		var err error
		if exist {
			err = st.SetCredentials(ctx, u.JID(), "-", creds)
		} else {
			err = st.CreateAccount(ctx, store.Account{Address: u.JID(), PasswordHash: "-", Scram: creds, CreatedAt: now})
		}
		if err != nil {
			return err
		}
		if i%2000 == 1999 {
			fmt.Fprintf(log, "presenced: %d accounts\n", i+1)
		}
	}
	for i, u := range pop.Users {
		for _, j := range pop.Neighbours(i) {
			if err := st.PutRelation(ctx, store.Relation{Subject: u.JID(), Viewer: pop.Users[j].JID(), State: store.Approved}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s presencedServer) Start(ctx context.Context, dir string, log io.Writer) (*ServerProcess, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	rig, err := Start(ctx, s.bin, dir, "--xmpp-addr", addr)
	if err != nil {
		return nil, err
	}
	return &ServerProcess{Addr: addr, PID: rig.cmd.Process.Pid, stop: rig.Stop}, nil
}
