package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// testPushSubscriptions: stored, replaced by ID, listed oldest first,
// bounded per account, deleted, gone with the account.
func testPushSubscriptions(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	sub := func(account, id string, at int) store.PushSubscription {
		return store.PushSubscription{ID: id, Account: account, Endpoint: "https://push.example/" + id, P256dh: "key-" + id, Auth: "auth-" + id,
			Device: "phone", Created: t0.Add(time.Duration(at) * time.Second)}
	}
	wantErr(t, s.PutPushSubscription(ctx, sub("nobody@x", "p0", 0)), store.ErrNotFound)
	must(t, s.PutPushSubscription(ctx, sub("alice@x", "p2", 2)))
	must(t, s.PutPushSubscription(ctx, sub("alice@x", "p1", 1)))
	must(t, s.PutPushSubscription(ctx, sub("bob@x", "p1", 1)))
	again := sub("alice@x", "p2", 9)
	again.P256dh, again.Device = "key-new", "laptop"
	must(t, s.PutPushSubscription(ctx, again)) // the device subscribed again: replaced, keeping its place
	got, err := s.PushSubscriptionsOf(ctx, "alice@x")
	must(t, err)
	want := []store.PushSubscription{sub("alice@x", "p1", 1), sub("alice@x", "p2", 2)}
	want[1].P256dh, want[1].Device = "key-new", "laptop"
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("alice's subscriptions %+v\nwant %+v", got, want)
	}
	for i := len(got); i < store.MaxPushSubscriptions; i++ {
		must(t, s.PutPushSubscription(ctx, sub("alice@x", fmt.Sprintf("q%d", i), 10+i)))
	}
	wantErr(t, s.PutPushSubscription(ctx, sub("alice@x", "over", 100)), store.ErrLimit)
	must(t, s.PutPushSubscription(ctx, sub("alice@x", "p1", 1))) // replacing is not adding
	must(t, s.DeletePushSubscription(ctx, "alice@x", "p1"))
	wantErr(t, s.DeletePushSubscription(ctx, "alice@x", "p1"), store.ErrNotFound)
	wantErr(t, s.DeletePushSubscription(ctx, "alice@x", "nope"), store.ErrNotFound)
	if l, _ := s.PushSubscriptionsOf(ctx, "bob@x"); len(l) != 1 {
		t.Fatalf("bob's went with alice's: %+v", l)
	}
	must(t, s.DeleteAccount(ctx, "bob@x"))
	if l, _ := s.PushSubscriptionsOf(ctx, "bob@x"); len(l) != 0 {
		t.Fatalf("bob's subscriptions outlived his account: %+v", l)
	}
}
