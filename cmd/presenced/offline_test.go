package main

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
)

// TestKill9KeepsStoredMessages: messages stored for an offline contact
// (answered ok, stored) survive kill -9: after a restart the contact's
// first session receives every one of them, and its acknowledgement
// deletes them.
func TestKill9KeepsStoredMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, dir := buildBinary(t), t.TempDir()
	cmd, url := startProcess(t, bin, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alice, bob := mutualContacts(ctx, t, bin, dir, url)
	as, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := 0; i < n; i++ {
		f, err := as.Request(ctx, "message", map[string]any{"to": "bob@localhost", "body": fmt.Sprint("m", i)})
		if err != nil || !f.Stored || f.Delivered != 0 {
			t.Fatalf("message %d: %s %v", i, f.Raw, err)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	_, url = startProcess(t, bin, dir)
	bob.BaseURL = url
	bs, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for len(ids) < n {
		f, err := bs.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "offline" })
		if err != nil {
			t.Fatalf("after %d offline frames: %v", len(ids), err)
		}
		if f.Body != fmt.Sprint("m", len(ids)) || f.From == "" || f.Sent == nil || f.OfflineID == 0 {
			t.Fatalf("offline frame %d: %s", len(ids), f.Raw)
		}
		ids = append(ids, f.OfflineID)
	}
	if err := bs.AckOffline(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	bs.Close(ctx)
	// acknowledged: the next session gets none
	bs, err = bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Request(ctx, "ping", nil); err != nil {
		t.Fatal(err)
	}
	wait, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	defer stop()
	if f, err := bs.WaitFor(wait, func(f client.Frame) bool { return f.Type == "offline" }); err == nil {
		t.Fatalf("an acknowledged message came again: %s", f.Raw)
	}
}
