package storetest

import (
	"io/fs"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/presenced/presenced/internal/store"
)

// Before is the migration files of files numbered below version: a
// backend's schema as it was before that migration, to test its upgrade.
func Before(t *testing.T, files fs.FS, version int) fs.FS {
	t.Helper()
	names, err := fs.Glob(files, "*.sql")
	must(t, err)
	out := fstest.MapFS{}
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		must(t, err)
		if v >= version {
			continue
		}
		data, err := fs.ReadFile(files, name)
		must(t, err)
		out[name] = &fstest.MapFile{Data: data}
	}
	return out
}

// RemoteAffiliationsUpgrade checks the migration that lets affiliations
// name remote accounts (SQLite's 0021, PostgreSQL's 0003) on a store that
// holds a local account's affiliation from before it: old is that store,
// on the schema before the migration, insert writes an affiliation there
// as that schema has it, and reopen opens the store again, migrated. The
// entry stays the local account's (it goes with the account), and remote
// ones can be named beside it.
func RemoteAffiliationsUpgrade(t *testing.T, old store.Store, insert func(app, name, account, aff string) error, reopen func() store.Store) {
	addAccount(t, old, "alice@x")
	addAccount(t, old, "bob@x")
	must(t, old.CreateRoom(ctx, store.Room{Name: "r", Owner: "alice@x", Mode: store.RoomMembers, Created: t0}, 5))
	must(t, insert("", "r", "bob@x", store.AffMember))
	s := reopen()
	bob := store.RoomAffiliation{Account: "bob@x", Affiliation: store.AffMember}
	spam := store.RoomAffiliation{Account: "spam@y", Affiliation: store.AffOutcast, Remote: true}
	if l, err := s.Affiliations(ctx, "", "r"); err != nil || !reflect.DeepEqual(l, []store.RoomAffiliation{bob}) {
		t.Fatalf("after the migration: %+v %v", l, err)
	}
	must(t, s.SetAffiliation(ctx, "", "r", spam, 5))
	must(t, s.DeleteAccount(ctx, "bob@x"))
	if l, err := s.Affiliations(ctx, "", "r"); err != nil || !reflect.DeepEqual(l, []store.RoomAffiliation{spam}) {
		t.Fatalf("a migrated entry did not go with its account: %+v %v", l, err)
	}
}
