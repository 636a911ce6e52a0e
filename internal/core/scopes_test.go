package core

import "testing"

// TestAppSessionsNeedTheirScopes: an app's session may publish presence,
// send messages and signals and publish personal events only with the
// scope its user granted; a first-party session needs none.
func TestAppSessionsNeedTheirScopes(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	e.connect("bob@x", avail)
	e.grant("alice@x", "chat", allReads, picked("bob@x"))
	app := Channel{App: "chat"}
	bare := e.open("alice@x", SessionOptions{Device: "app", Channel: app}).s
	granted := e.open("alice@x", SessionOptions{Device: "app2", Channel: app,
		Scopes: []string{ScopePresencePublish, ScopeMessage, ScopeSignal, ScopeEventsPublish}}).s
	hBob := e.hub.handles.Of("chat", "alice@x", "bob@x")
	first := e.open("alice@x", SessionOptions{Device: "web"}).s

	tries := map[string]func(s *Session) error{
		"presence": func(s *Session) error { return s.SetPresence(Presence{Availability: Available}) },
		"direct":   func(s *Session) error { return s.Direct("bob@x", true) },
		"message": func(s *Session) error {
			_, err := s.Send(Message{Kind: KindMessage, Type: TypeChat, To: to(s, hBob), Body: "hi"})
			return err
		},
		"signal": func(s *Session) error {
			_, err := s.Send(Message{Kind: KindSignal, To: to(s, hBob), Data: []byte(`{"ring":true}`)})
			return err
		},
		"publish": func(s *Session) error {
			_, err := s.Publish(ctx, TopicMood, "", []byte(`{"mood":"happy"}`))
			return err
		},
		"retract": func(s *Session) error { return s.Retract(ctx, TopicMood) },
	}
	for what, try := range tries {
		if err := try(bare); CodeOf(err) != CodeForbidden {
			t.Errorf("%s from an app session without the scope: %v, want forbidden", what, err)
		}
		for name, s := range map[string]*Session{"granted": granted, "first-party": first} {
			if err := try(s); CodeOf(err) == CodeForbidden {
				t.Errorf("%s from a %s session: %v", what, name, err)
			}
		}
	}
	if _, err := e.hub.Connect(ctx, "alice@x", SessionOptions{Device: "app3", Channel: app, Presence: avail}, &sink{}); CodeOf(err) != CodeForbidden {
		t.Errorf("an app session connecting with presence, without the scope: %v, want forbidden", err)
	}
}

// to is the name s writes bob by: his handle in the app, else his address.
func to(s *Session, handle string) string {
	if s.channel.FirstParty() {
		return "bob@x"
	}
	return handle
}
