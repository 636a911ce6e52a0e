package wire

import (
	"context"
	"encoding/json"
	"testing"
	"unsafe"
)

// TestConnKeepsNoSigninOnceOpen: what authenticated a connection is kept
// only until its session opens (the session keeps what it needs), so an
// idle connection holds no copy; a hello refused keeps it for the next.
func TestConnKeepsNoSigninOnceOpen(t *testing.T) {
	srv, _ := graceRig(t)
	m, c := hello(t, srv, `{"type":"hello","resume":{"session":"gone-000000","seq":3}}`)
	if m["type"] != "error" || m["code"] != "session_expired" {
		t.Fatalf("resume of no session: %v", m)
	}
	if c.Session != nil || c.signin == nil {
		t.Fatal("a refused hello must leave the connection signed in for the next one")
	}
	f, err := Decode([]byte(`{"type":"hello","id":"2"}`))
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := c.Hello(context.Background(), f, nopSink{})
	if err := json.Unmarshal(reply, &m); err != nil || m["type"] != "welcome" {
		t.Fatalf("second hello: %s (%v)", reply, err)
	}
	if c.signin != nil {
		t.Fatal("the open connection still holds its sign-in")
	}
	if c.Session.Account != "bob@localhost" {
		t.Fatalf("session of %q", c.Session.Account)
	}
	// frames after hello act as the session's account
	f, _ = Decode([]byte(`{"type":"invisible","id":"3","invisible":true}`))
	reply, err = c.Handle(context.Background(), f)
	if err != nil || json.Unmarshal(reply, &m) != nil || m["type"] != "ok" {
		t.Fatalf("invisible after hello: %s (%v)", reply, err)
	}
	if unsafe.Sizeof(uintptr(0)) == 8 && unsafe.Sizeof(Conn{}) > 48 {
		t.Errorf("Conn is %d bytes, more than the 48 every idle session pays for", unsafe.Sizeof(Conn{}))
	}
}
