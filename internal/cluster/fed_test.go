package cluster

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

// FuzzFedBus: no remote account's presence, probe or message handed over
// the bus by another node crashes a node of a federating cluster: what
// decodes is checked by the hub as a remote server's stanza is
// (Hub.PeerRemotePresence, Hub.AnswerRemoteProbe, Hub.Receive) and
// refused with a typed error.
func FuzzFedBus(f *testing.F) {
	for _, v := range []any{
		fedPresence{Origin: "n1", From: "r@y/phone", To: "a@x", Presence: &core.Presence{Availability: core.Available, Status: "hi"}},
		fedPresence{Origin: "n1", From: "r@y", To: "a@x"},
		fedProbe{Origin: "n1", From: "r@y", To: "a@x"},
		core.PeerMessage{Sender: "r@y", Remote: true, Message: core.Message{Kind: core.KindMessage, Type: core.TypeChat, From: "r@y/p", To: "a@x", Body: "hi"}},
		core.PeerMessage{Sender: "r@y", Remote: true, Message: core.Message{Kind: core.KindIQ, Type: "get", ID: "1", From: "r@y/p", To: "a@x/r", Payload: "<q/>"}},
	} {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	n, err := New(Config{NodeID: "fuzz", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	if err := st.CreateAccount(ctx, store.Account{Address: "a@x", PasswordHash: "x"}); err != nil {
		f.Fatal(err)
	}
	h := core.New(core.Config{Domain: "x", Grace: time.Second, Peers: n}, st, clock.Real{}, nil, slog.New(slog.DiscardHandler))
	n.Attach(h) // never started: it sends nothing
	typed := func(t *testing.T, what string, err error) {
		if err != nil && core.CodeOf(err) == core.CodeInternal {
			t.Fatalf("%s: untyped error %v", what, err)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n.onFedPresence(&nats.Msg{Data: b})
		n.onFedProbe(&nats.Msg{Data: b})
		var p fedPresence
		if unmarshalBounded(b, &p) == nil {
			typed(t, "presence", h.PeerRemotePresence(p.From, p.To, p.Presence))
			typed(t, "probe", h.AnswerRemoteProbe(p.From, p.To))
		}
		if m, err := decodeSend(b); err == nil {
			_, err := h.Receive(m)
			typed(t, "receive", err)
		}
	})
}
