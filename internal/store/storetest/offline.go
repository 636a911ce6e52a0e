package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Offline delivery and history (store/offline.go).

func stored(to, from, id, body string) store.StoredMessage {
	return store.StoredMessage{Account: to, Sender: from, From: from + "/r", ID: id, Type: "chat", Body: body, Sent: t0, Expires: t0.Add(time.Hour)}
}

func storedSeqs(t *testing.T, s store.Store, account string, now time.Time) []string {
	t.Helper()
	l, err := s.StoredFor(ctx, account, now, 100)
	must(t, err)
	var out []string
	for _, m := range l {
		out = append(out, m.Sender+":"+m.ID+":"+m.Body)
	}
	return out
}

func testStored(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	lim := store.StoredLimits{Count: 4, Bytes: 11}
	m := stored("alice@x", "bob@x", "m1", "hi")
	m.Payload = "<x/>"
	seq1, ok, err := s.PutStored(ctx, m, lim)
	must(t, err)
	if !ok || seq1 == 0 {
		t.Fatalf("first put: seq %d stored %v", seq1, ok)
	}
	got, err := s.StoredFor(ctx, "alice@x", t0, 10)
	must(t, err)
	m.Seq = seq1
	if len(got) != 1 || got[0] != m {
		t.Fatalf("stored %+v, want %+v", got, m)
	}
	// the same sender, ID and content again: a resend, stored once
	m.Seq = 0
	seq, ok, err := s.PutStored(ctx, m, lim)
	must(t, err)
	if ok || seq != seq1 {
		t.Fatalf("duplicate: seq %d stored %v, want %d false", seq, ok, seq1)
	}
	// the ID reused for another message (a new connection numbering its
	// requests from 1 again): another message
	if _, ok, err := s.PutStored(ctx, stored("alice@x", "bob@x", "m1", "new"), lim); err != nil || !ok {
		t.Fatalf("reused ID, new content: %v %v", ok, err)
	}
	// another sender's same ID is another message (a forged ID cannot hide one)
	_, ok, err = s.PutStored(ctx, stored("alice@x", "carol@x", "m1", "c"), lim)
	must(t, err)
	// no ID: never a duplicate
	for i := 0; i < 1; i++ {
		if _, ok2, err := s.PutStored(ctx, stored("alice@x", "bob@x", "", "x"), lim); err != nil || !ok2 || !ok {
			t.Fatalf("put without id: %v %v", ok2, err)
		}
	}
	// count limit: 4 held
	_, _, err = s.PutStored(ctx, stored("alice@x", "bob@x", "m4", "y"), lim)
	wantErr(t, err, store.ErrLimit)
	if got := storedSeqs(t, s, "alice@x", t0); fmt.Sprint(got) != "[bob@x:m1:hi bob@x:m1:new carol@x:m1:c bob@x::x]" {
		t.Fatalf("queue %v", got)
	}
	// bytes limit: bob@x's queue is empty, 11 bytes at most
	_, _, err = s.PutStored(ctx, stored("bob@x", "alice@x", "big", "123456789012"), lim)
	wantErr(t, err, store.ErrLimit)
	_, _, err = s.PutStored(ctx, stored("bob@x", "alice@x", "fits", "12345678901"), lim)
	must(t, err)
	// nobody: not found
	_, _, err = s.PutStored(ctx, stored("nobody@x", "alice@x", "n", "n"), lim)
	wantErr(t, err, store.ErrNotFound)

	// deleting acknowledged ones: only the account's own
	n, err := s.DeleteStored(ctx, "bob@x", []int64{seq1})
	must(t, err)
	if n != 0 {
		t.Fatalf("bob deleted %d of alice's messages", n)
	}
	n, err = s.DeleteStored(ctx, "alice@x", []int64{seq1, seq1 + 1000})
	must(t, err)
	if n != 1 {
		t.Fatalf("deleted %d, want 1", n)
	}
	if got := storedSeqs(t, s, "alice@x", t0); len(got) != 3 {
		t.Fatalf("after delete %v", got)
	}
	// ack then the same ID again: stored anew (it was delivered; a resend is new)
	if _, ok, err := s.PutStored(ctx, stored("alice@x", "bob@x", "m1", "hi"), lim); err != nil || !ok {
		t.Fatalf("put after ack: %v %v", ok, err)
	}

	// expiry: not listed once expired, swept by DeleteExpiredStored
	if got := storedSeqs(t, s, "alice@x", t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("expired messages listed: %v", got)
	}
	late := stored("bob@x", "alice@x", "late", "z")
	late.Expires = t0.Add(3 * time.Hour)
	_, _, err = s.PutStored(ctx, late, store.StoredLimits{})
	must(t, err)
	n, err = s.DeleteExpiredStored(ctx, t0.Add(2*time.Hour))
	must(t, err)
	if n != 5 {
		t.Fatalf("swept %d, want 5", n)
	}
	if got := storedSeqs(t, s, "bob@x", t0); fmt.Sprint(got) != "[alice@x:late:z]" {
		t.Fatalf("bob's queue after the sweep %v", got)
	}
	// the account's deletion takes its queue; a new account inherits none
	must(t, s.DeleteAccount(ctx, "bob@x"))
	addAccount(t, s, "bob@x")
	if got := storedSeqs(t, s, "bob@x", t0); len(got) != 0 {
		t.Fatalf("recreated account inherited %v", got)
	}
}

func archived(owner, with string, out bool, body string, at time.Time) store.ArchivedMessage {
	return store.ArchivedMessage{Owner: owner, With: with, Outgoing: out, From: owner + "/r", To: with, ID: body, Type: "chat", Body: body, Sent: at}
}

func bodies(ms []store.ArchivedMessage) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Body)
	}
	return fmt.Sprint(out)
}

func testArchive(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	var ms []store.ArchivedMessage
	for i := 1; i <= 6; i++ {
		with := "bob@x"
		if i%3 == 0 {
			with = "carol@x"
		}
		ms = append(ms, archived("alice@x", with, i%2 == 0, fmt.Sprint(i), t0.Add(time.Duration(i)*time.Minute)))
	}
	ms = append(ms, archived("nobody@x", "alice@x", false, "lost", t0)) // no such owner: not kept
	must(t, s.ArchiveMessages(ctx, ms, 5))                              // bounded: the oldest goes
	q := func(q store.ArchiveQuery) ([]store.ArchivedMessage, bool) {
		t.Helper()
		page, complete, err := s.QueryArchive(ctx, "alice@x", q)
		must(t, err)
		return page, complete
	}
	all, complete := q(store.ArchiveQuery{Max: 10})
	if bodies(all) != "[2 3 4 5 6]" || !complete {
		t.Fatalf("all %s %v", bodies(all), complete)
	}
	// forward paging
	p, complete := q(store.ArchiveQuery{Max: 2})
	if bodies(p) != "[2 3]" || complete {
		t.Fatalf("first page %s %v", bodies(p), complete)
	}
	p, complete = q(store.ArchiveQuery{Max: 2, After: p[1].Seq})
	if bodies(p) != "[4 5]" || complete {
		t.Fatalf("second page %s %v", bodies(p), complete)
	}
	p, complete = q(store.ArchiveQuery{Max: 2, After: p[1].Seq})
	if bodies(p) != "[6]" || !complete {
		t.Fatalf("third page %s %v", bodies(p), complete)
	}
	// backwards: the last page, then before it
	p, complete = q(store.ArchiveQuery{Max: 2, Last: true})
	if bodies(p) != "[5 6]" || complete {
		t.Fatalf("last page %s %v", bodies(p), complete)
	}
	p, complete = q(store.ArchiveQuery{Max: 2, Before: p[0].Seq})
	if bodies(p) != "[3 4]" || complete {
		t.Fatalf("page before %s %v", bodies(p), complete)
	}
	p, complete = q(store.ArchiveQuery{Max: 2, Before: p[0].Seq})
	if bodies(p) != "[2]" || !complete {
		t.Fatalf("first page backwards %s %v", bodies(p), complete)
	}
	// filters: with, time
	p, _ = q(store.ArchiveQuery{Max: 10, With: "carol@x"})
	if bodies(p) != "[3 6]" || !p[1].Outgoing || p[0].Outgoing {
		t.Fatalf("with carol %s", bodies(p))
	}
	p, _ = q(store.ArchiveQuery{Max: 10, Start: t0.Add(3 * time.Minute), End: t0.Add(5 * time.Minute)})
	if bodies(p) != "[3 4 5]" {
		t.Fatalf("start/end %s", bodies(p))
	}
	// another owner's history is its own
	if p, _, _ := s.QueryArchive(ctx, "bob@x", store.ArchiveQuery{Max: 10}); len(p) != 0 {
		t.Fatalf("bob sees %s", bodies(p))
	}
	// retention
	n, err := s.DeleteArchivedBefore(ctx, t0.Add(4*time.Minute))
	must(t, err)
	if n != 2 {
		t.Fatalf("retention deleted %d, want 2", n)
	}
	// the switch: off keeps nothing new, keeps what it had
	on, err := s.Archiving(ctx, "alice@x")
	must(t, err)
	if !on {
		t.Fatal("archiving is off by default")
	}
	must(t, s.SetArchiving(ctx, "alice@x", false))
	must(t, s.ArchiveMessages(ctx, []store.ArchivedMessage{archived("alice@x", "bob@x", true, "off", t0.Add(time.Hour))}, 0))
	if on, _ := s.Archiving(ctx, "alice@x"); on {
		t.Fatal("archiving still on")
	}
	if p, _ := q(store.ArchiveQuery{Max: 10}); bodies(p) != "[4 5 6]" {
		t.Fatalf("archived while off: %s", bodies(p))
	}
	wantErr(t, s.SetArchiving(ctx, "nobody@x", false), store.ErrNotFound)
	must(t, s.SetArchiving(ctx, "alice@x", true))
	// erase
	n, err = s.EraseArchive(ctx, "alice@x")
	must(t, err)
	if n != 3 {
		t.Fatalf("erased %d, want 3", n)
	}
	// deletion takes history and switch
	must(t, s.ArchiveMessages(ctx, []store.ArchivedMessage{archived("bob@x", "alice@x", true, "b", t0)}, 0))
	must(t, s.SetArchiving(ctx, "bob@x", false))
	must(t, s.DeleteAccount(ctx, "bob@x"))
	addAccount(t, s, "bob@x")
	if on, _ := s.Archiving(ctx, "bob@x"); !on {
		t.Fatal("a recreated account inherited the switch")
	}
	if p, _, _ := s.QueryArchive(ctx, "bob@x", store.ArchiveQuery{Max: 10}); len(p) != 0 {
		t.Fatalf("a recreated account inherited %s", bodies(p))
	}
}
