package server

import (
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/core"
)

type sessionView struct {
	Resource     string    `json:"resource"`
	Device       string    `json:"device"`
	Transport    string    `json:"transport"`
	Token        string    `json:"token"`
	Started      time.Time `json:"started"`
	Availability string    `json:"availability"`
	Current      bool      `json:"current"`
}

func sessionsOf(t *testing.T, c *client.Client) []sessionView {
	t.Helper()
	var out struct{ Sessions []sessionView }
	must(t, c.Do(tctx(t), "GET", "/v1/auth/sessions", nil, &out))
	return out.Sessions
}

// TestDevicesEndedAndSignedOutEverywhere: an account lists its live
// sessions with the token each signed in with, ends one, and signs out
// everywhere (every token revoked, every session ended, also a
// long-poll one); sessions of others are untouched.
func TestDevicesEndedAndSignedOutEverywhere(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	phone, err := alice.Connect(ctx, client.ConnectOptions{Device: "phone", Presence: &client.Presence{Availability: "away"}})
	must(t, err)
	laptop, err := alice.ConnectPoll(ctx, client.ConnectOptions{Device: "laptop"})
	must(t, err)
	bs, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)

	ss := sessionsOf(t, alice)
	if len(ss) != 2 || ss[0].Resource != phone.Resource || ss[0].Transport != "ws" || ss[0].Availability != "away" || !ss[0].Current ||
		ss[1].Resource != laptop.Resource || ss[1].Transport != "longpoll" || ss[1].Availability != "unavailable" || ss[0].Token == "" {
		t.Fatalf("sessions %+v", ss)
	}
	var e *client.Error
	if err := alice.Do(ctx, "DELETE", "/v1/auth/sessions/nosuch-000000", nil, nil); !asError(err, &e) || e.Status != 404 {
		t.Fatalf("ending an unknown session: %v", err)
	}
	if err := bob.Do(ctx, "DELETE", "/v1/auth/sessions/"+phone.Resource, nil, nil); !asError(err, &e) || e.Status != 404 {
		t.Fatalf("bob ended alice's session: %v", err)
	}
	must(t, alice.Do(ctx, "DELETE", "/v1/auth/sessions/"+phone.Resource, nil, nil))
	if r := goawayOf(t, ctx, phone); r != core.GoawaySignedOut {
		t.Fatalf("goaway %q", r)
	}
	if ss := sessionsOf(t, alice); len(ss) != 1 || ss[0].Resource != laptop.Resource {
		t.Fatalf("after ending the phone: %+v", ss)
	}

	must(t, alice.Do(ctx, "DELETE", "/v1/auth/tokens", nil, nil))
	if err := alice.Do(ctx, "GET", "/v1/auth/tokens", nil, nil); !asError(err, &e) || e.Status != 401 {
		t.Fatalf("a token survived signing out everywhere: %v", err)
	}
	again, err := client.Login(ctx, ts.URL, "alice@localhost", "password-alice")
	must(t, err)
	// the long-poll session ended at once (its client may hear of it only
	// at its next poll, which its revoked token then fails)
	if ss := sessionsOf(t, again); len(ss) != 0 {
		t.Fatalf("sessions left after signing out everywhere: %+v", ss)
	}
	if _, err := bs.Request(ctx, "ping", nil); err != nil {
		t.Fatalf("bob's session ended with alice's: %v", err)
	}
}

// TestChangePassword: the current password is checked; the new one works
// at once, the old one and every earlier token stop working, and a token
// issued after the change keeps its session when the lifecycle log is read.
func TestChangePassword(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice := ts.user(t, "alice")
	old, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	var e *client.Error
	bad := map[string]string{"password": "wrong-password", "new_password": "new-password-1"}
	if err := alice.Do(ctx, "POST", "/v1/auth/password", bad, nil); !asError(err, &e) || e.Status != 401 {
		t.Fatalf("a wrong current password: %v", err)
	}
	short := map[string]string{"password": "password-alice", "new_password": "short"}
	if err := alice.Do(ctx, "POST", "/v1/auth/password", short, nil); !asError(err, &e) || e.Status != 400 {
		t.Fatalf("a too short new password: %v", err)
	}
	must(t, alice.Do(ctx, "POST", "/v1/auth/password", map[string]string{"password": "password-alice", "new_password": "new-password-1"}, nil))
	again, err := client.Login(ctx, ts.URL, "alice@localhost", "new-password-1")
	must(t, err)
	fresh, err := again.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	// the password event or its tokens' revocations, whichever is read first
	if r := goawayOf(t, ctx, old); r != core.GoawayPassword && r != core.GoawayRevoked {
		t.Fatalf("goaway %q", r)
	}
	if _, err := client.Login(ctx, ts.URL, "alice@localhost", "password-alice"); !asError(err, &e) || e.Status != 401 {
		t.Fatalf("the old password still signs in: %v", err)
	}
	if err := alice.Do(ctx, "GET", "/v1/me", nil, nil); !asError(err, &e) || e.Status != 401 {
		t.Fatalf("a token of before the change still works: %v", err)
	}
	// the change's lifecycle event has been applied (old got its goaway,
	// from it or from a token revocation logged after it);
	// the session signed in after it is still there
	if _, err := fresh.Request(ctx, "ping", nil); err != nil {
		t.Fatalf("the session signed in after the change ended: %v", err)
	}
	if ss := sessionsOf(t, again); len(ss) != 1 || ss[0].Resource != fresh.Resource {
		t.Fatalf("sessions %+v", ss)
	}
}
