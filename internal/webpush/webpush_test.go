package webpush

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/netguard"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
	"github.com/presenced/presenced/internal/webpush/pushtest"
)

// rig is a push-sending service with a real store, alice's account and a
// loopback push service.
func rig(t *testing.T, allowPrivate bool) (*Service, *pushtest.Service, store.Store, context.Context) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateAccount(ctx, store.Account{Address: "alice@x", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadKeys(ctx, st, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{Store: st, Keys: keys, Subject: "mailto:ops@x", AllowPrivate: allowPrivate, RetryBase: 10 * time.Millisecond}
	ps := pushtest.New(t, keys.Public, "mailto:ops@x")
	go s.Run(ctx, 2)
	return s, ps, st, ctx
}

// subscribe registers a new device of alice at the push service.
func subscribe(t *testing.T, s *Service, ps *pushtest.Service, ctx context.Context, name string) store.PushSubscription {
	d := pushtest.NewDevice(t)
	p256dh, auth := d.Keys()
	sub, err := s.Subscribe(ctx, "alice@x", ps.Add(name, d), p256dh, auth, name)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// waitFor polls cond; the test's own timeout bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
	}
}

// TestWakeReachesEveryDevice: a wake-up is encrypted for each device,
// signed with the server's VAPID key, and carries its TTL and urgency.
func TestWakeReachesEveryDevice(t *testing.T) {
	s, ps, _, ctx := rig(t, true)
	subscribe(t, s, ps, ctx, "phone")
	subscribe(t, s, ps, ctx, "laptop")
	s.Wake("alice@x", core.Notification{Kind: core.NotifyCall, From: "bob@x", ID: "c1", Urgency: "high", TTL: 30 * time.Second})
	waitFor(t, "two pushes", func() bool { return s.Sent.Load() == 2 })
	for _, r := range ps.Taken() {
		var p Payload
		json.Unmarshal(r.Payload, &p)
		if p != (Payload{Kind: "call", From: "bob@x", ID: "c1"}) || r.TTL != "30" || r.Urgency != "high" {
			t.Errorf("%s received %+v: %s", r.Device, r, r.Payload)
		}
	}
	if n := len(ps.Taken()); n != 2 {
		t.Errorf("the push service took %d", n)
	}
}

// TestGoneSubscriptionIsForgotten: 404 and 410 remove the subscription.
func TestGoneSubscriptionIsForgotten(t *testing.T) {
	s, ps, st, ctx := rig(t, true)
	subscribe(t, s, ps, ctx, "phone")
	ps.Answer = func(int) int { return http.StatusGone }
	s.Wake("alice@x", core.Notification{Kind: core.NotifyMessage, From: "bob@x", ID: "m1", Urgency: "normal", TTL: time.Minute})
	waitFor(t, "the subscription to go", func() bool {
		l, err := st.PushSubscriptionsOf(ctx, "alice@x")
		return err == nil && len(l) == 0
	})
}

// TestRetriedUntilTaken: a push service that fails for a while (503,
// 429) is tried again, with backoff, until it takes the notification.
func TestRetriedUntilTaken(t *testing.T) {
	s, ps, _, ctx := rig(t, true)
	subscribe(t, s, ps, ctx, "phone")
	ps.Answer = func(n int) int {
		switch n {
		case 1:
			return http.StatusServiceUnavailable
		case 2:
			return http.StatusTooManyRequests
		}
		return http.StatusCreated
	}
	s.Wake("alice@x", core.Notification{Kind: core.NotifyMessage, From: "bob@x", ID: "m1", Urgency: "normal", TTL: time.Hour})
	waitFor(t, "the third post to be taken", func() bool { return s.Sent.Load() == 1 })
	if n := ps.Posts(); n != 3 || len(ps.Taken()) != 1 {
		t.Fatalf("%d posts, %d taken", n, len(ps.Taken()))
	}
}

// TestPrivateEndpointsRefused: without the operator's switch, endpoints
// on private, loopback or reserved addresses, http ones and ones on
// other ports are refused at subscription; a name that resolves to
// loopback is refused when dialled, and nothing reaches it.
func TestPrivateEndpointsRefused(t *testing.T) {
	for _, e := range []string{"http://push.example/x", "https://127.0.0.1/x", "https://10.1.2.3/x", "https://[::1]/x", "https://[fd00::1]/x",
		"https://169.254.169.254/latest", "https://100.64.0.1/x", "https://push.example:8443/x", "https://u:p@push.example/x", "push.example/x", "https:///x"} {
		if err := CheckEndpoint(e, false); !errors.Is(err, ErrEndpoint) {
			t.Errorf("CheckEndpoint(%q) = %v", e, err)
		}
	}
	for _, e := range []string{"https://fcm.googleapis.com/fcm/send/abc", "https://updates.push.services.mozilla.com/wpush/v2/x", "https://8.8.8.8/x"} {
		if err := CheckEndpoint(e, false); err != nil {
			t.Errorf("CheckEndpoint(%q) = %v", e, err)
		}
	}
	s, ps, st, ctx := rig(t, false)
	p256dh, auth := pushtest.NewDevice(t).Keys()
	if _, err := s.Subscribe(ctx, "alice@x", ps.Srv.URL+"/push/phone", p256dh, auth, ""); core.CodeOf(err) != core.CodeInvalid {
		t.Fatalf("a loopback endpoint was taken: %v", err)
	}
	// a name passes the check, but its address is refused at dial time
	sub := store.PushSubscription{ID: "named", Account: "alice@x", Endpoint: "https://localhost/push/phone", P256dh: p256dh, Auth: auth}
	if err := st.PutPushSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	s.Wake("alice@x", core.Notification{Kind: core.NotifyMessage, From: "bob@x", Urgency: "normal", TTL: time.Minute})
	waitFor(t, "the refusal", func() bool { return s.Failed.Load() == 1 })
	if ps.Posts() != 0 {
		t.Fatal("a post reached a loopback address")
	}
}

// TestSubscribeChecksKeys: keys that are not a P-256 point and a 16-byte
// secret are refused; the limit holds.
func TestSubscribeChecksKeys(t *testing.T) {
	s, ps, _, ctx := rig(t, true)
	p256dh, auth := pushtest.NewDevice(t).Keys()
	for _, c := range [][2]string{{"junk!", auth}, {base64.RawURLEncoding.EncodeToString(make([]byte, 65)), auth}, {p256dh, "c2hvcnQ"}, {p256dh, ""}} {
		if _, err := s.Subscribe(ctx, "alice@x", ps.Srv.URL+"/push/x", c[0], c[1], ""); core.CodeOf(err) != core.CodeInvalid {
			t.Errorf("keys %q: %v", c, err)
		}
	}
	for i := range store.MaxPushSubscriptions {
		if _, err := s.Subscribe(ctx, "alice@x", fmt.Sprintf("%s/push/%d", ps.Srv.URL, i), p256dh, auth, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Subscribe(ctx, "alice@x", ps.Srv.URL+"/push/over", p256dh, auth, ""); core.CodeOf(err) != core.CodeLimit {
		t.Fatalf("past the limit: %v", err)
	}
}

// TestKeysKept: the VAPID pair is made once and read back, by every
// node of the store.
func TestKeysKept(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a, err := LoadKeys(ctx, st, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadKeys(ctx, st, t.TempDir())
	if err != nil || a != b {
		t.Fatalf("keys changed: %v", err)
	}
}

// TestKeysAdopted: a data directory's key file of an older presenced is
// taken into an empty store (its subscriptions stay valid), and a broken
// one is refused rather than replaced.
func TestKeysAdopted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, err := newKeys()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), old, 0o600); err != nil {
		t.Fatal(err)
	}
	want, _ := parseKeys(old)
	got, err := LoadKeys(ctx, openStore(t), dir)
	if err != nil || got != want {
		t.Fatalf("got %v, %v; want the file's %v", got, err, want)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte(`{"private":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeys(ctx, openStore(t), dir); err == nil {
		t.Fatal("a broken key file was taken")
	}
}

func openStore(t *testing.T) store.Store {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// FuzzCheckEndpoint: no input crashes it, and what it takes without the
// operator's switch is https on 443 at a name or a public address.
func FuzzCheckEndpoint(f *testing.F) {
	for _, s := range []string{"https://fcm.googleapis.com/fcm/send/x", "https://127.0.0.1/x", "http://push.example/", "https://[::ffff:10.0.0.1]/", "https://h:0443/", "https://%31%32%37.0.0.1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckEndpoint(raw, false) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Port() != "" && u.Port() != "443" || u.User != nil {
			t.Fatalf("took %q", raw)
		}
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !netguard.Public(ip) {
			t.Fatalf("took a non-public address: %q", raw)
		}
	})
}
