package core

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// tokenTable stands for the signature check (internal/roomtoken tests the
// real one): a token is valid when listed, and says what it is listed with.
type tokenTable map[string]RoomToken

func (tt tokenTable) VerifyRoomToken(app store.App, token string) (RoomToken, error) {
	if t, ok := tt[app.ID+" "+token]; ok {
		return t, nil
	}
	return RoomToken{}, errors.New("bad signature")
}

// TestRoomTokens: in the namespace of an app that registered a room key,
// a session joins (and so creates) a room only with the app's token for
// that room and that user, not expired; an account the owner named joins
// without one; presenced's own clients and other apps are not concerned.
func TestRoomTokens(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "carol@x")
	scopes := append(slices.Clone(allReads), ScopeRooms)
	e.must(e.st.CreateApp(ctx, store.App{ID: "game", Name: "game", RedirectURIs: []string{"https://game.example/cb"},
		Scopes: scopes, Public: true, RoomKey: []byte(`{"kty":"OKP"}`), CreatedAt: e.clk.Now()}))
	for _, who := range []string{"alice@x", "bob@x", "carol@x"} {
		e.grant(who, "game", scopes, GrantChange{})
	}
	exp := e.clk.Now().Add(time.Minute)
	e.hub.cfg.RoomTokens = tokenTable{
		"game alice-lobby": {Subject: e.handle("game", "alice@x", "alice@x"), Room: "Lobby", Expires: exp},
		"game bob-lobby":   {Subject: e.handle("game", "bob@x", "bob@x"), Room: "lobby", Expires: exp},
		"game bob-other":   {Subject: e.handle("game", "bob@x", "bob@x"), Room: "other", Expires: exp},
		"game bob-as-him":  {Subject: "bob@x", Room: "lobby", Expires: exp},
		"game bob-old":     {Subject: e.handle("game", "bob@x", "bob@x"), Room: "lobby", Expires: e.clk.Now()},
	}
	a := e.openApp("alice@x", "game", scopes, avail)
	b := e.openApp("bob@x", "game", scopes, avail)
	c := e.openApp("carol@x", "game", scopes, avail)

	refused := func(k *sink, token, why string) {
		t.Helper()
		err := k.s.Join(ctx, JoinOptions{Room: "lobby", Nick: "n", Token: token})
		if !IsRoomTokenRefused(err) || CodeOf(err) != CodeForbidden {
			t.Fatalf("%s: %v", why, err)
		}
	}
	refused(a, "", "no token: the room is not even created")
	if _, err := e.st.GetRoom(ctx, "game", "lobby"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("created without the app's word: %v", err)
	}
	refused(a, "forged", "a token that does not verify")
	refused(a, "bob-lobby", "bob's token")
	e.must(a.s.Join(ctx, JoinOptions{Room: "lobby", Nick: "al", Token: "alice-lobby"}))
	if snap := roomEvents(a.take())[0].(RoomSnapshot); !snap.Created || snap.Self.Affiliation != store.AffOwner {
		t.Fatalf("alice created it: %+v", snap)
	}
	refused(b, "", "no token")
	refused(b, "bob-other", "another room's")
	refused(b, "bob-as-him", "the real address is not the app's subject")
	refused(b, "bob-old", "expired")
	e.must(b.s.Join(ctx, JoinOptions{Room: "lobby", Nick: "bo", Token: "bob-lobby"}))

	// the owner authorizes too: a member she names joins without a token
	refused(c, "", "carol, not named")
	e.befriend("alice@x", "carol@x")
	e.grant("alice@x", "game", scopes, picked("carol@x"))
	e.must(a.s.SetAffiliation(ctx, "lobby", RoomWho{Address: e.handle("game", "alice@x", "carol@x")}, store.AffMember, ""))
	e.must(c.s.Join(ctx, JoinOptions{Room: "lobby", Nick: "ca"}))

	// presenced's own clients have their own namespace, without tokens
	web := e.connect("bob@x", avail)
	e.join(web, "lobby", "bo")
}
