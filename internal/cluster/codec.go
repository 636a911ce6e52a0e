package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/presenced/presenced/internal/core"
)

// What crosses the bus is plain data: core events and targets in JSON,
// tagged with the event's type name. Everything read from the bus is
// untrusted input (a bad node, a bug, a hostile client of an open NATS):
// decoding is bounded and checked, and a bad message is counted and
// dropped, never a crash.

// Limits of one bus message.
const (
	MaxMessageBytes = 1 << 20 // NATS's default max_payload
	MaxTargets      = 1 << 14
	maxAccountLen   = 3071 // an address: local@domain at their limits (internal/addr)
)

// ErrBadMessage is the error of every bus message that does not decode to
// something a node may act on.
var ErrBadMessage = errors.New("cluster: bad bus message")

var eventTypes = map[string]reflect.Type{}

func init() {
	for _, ev := range []core.Event{core.Snapshot{}, core.PresenceEvent{}, core.SubscriptionEvent{}, core.PrivacyEvent{},
		core.MessageEvent{}, core.ContactEvent{}, core.PersonalEvent{}, core.Goaway{}, core.CallEvent{},
		core.RoomSnapshot{}, core.RoomDiff{}, core.RoomMessageEvent{}, core.RoomSubjectEvent{}, core.RoomLeft{}, core.RoomInvite{}, core.RoomPrivateEvent{}} {
		eventTypes[reflect.TypeOf(ev).Name()] = reflect.TypeOf(ev)
	}
}

// routed is one Route's share for one node: an event and the targets of
// it that node holds.
type routed struct {
	Origin string          `json:"o"` // the sending node
	Kind   string          `json:"k"` // the event's type name
	Event  json.RawMessage `json:"e"`
	To     []core.Target   `json:"t"`
	// Apps: what the subject's node says of the subject for the app
	// channels of the receiving node's sessions (core.Hub.RouteApps)
	Apps *core.AppFacts `json:"a,omitempty"`
}

func encodeRouted(origin string, ev core.Event, to []core.Target) ([]byte, error) {
	return encodeRoutedApps(origin, ev, to, core.AppFacts{})
}

// decodeRouted checks and decodes a routed bus message.
func decodeRouted(b []byte) (origin string, ev core.Event, to []core.Target, err error) {
	origin, ev, to, _, err = decodeRoutedApps(b)
	return origin, ev, to, err
}

// encodeRoutedApps is encodeRouted with the subject's facts for apps.
func encodeRoutedApps(origin string, ev core.Event, to []core.Target, af core.AppFacts) ([]byte, error) {
	t := reflect.TypeOf(ev)
	if t == nil || eventTypes[t.Name()] != t {
		return nil, fmt.Errorf("cluster: event %T cannot cross nodes", ev)
	}
	e, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("cluster: encode %T: %w", ev, err)
	}
	r := routed{Origin: origin, Kind: t.Name(), Event: e, To: to}
	if len(af.Hidden) > 0 || len(af.Private) > 0 {
		r.Apps = &af
	}
	return json.Marshal(r)
}

// decodeRoutedApps checks and decodes a routed bus message, with the
// subject's facts for apps (zero when it has none).
func decodeRoutedApps(b []byte) (origin string, ev core.Event, to []core.Target, af core.AppFacts, err error) {
	origin, ev, to, r, err := decodeRoutedMsg(b)
	if err == nil && r.Apps != nil {
		af = *r.Apps
	}
	return origin, ev, to, af, err
}

func decodeRoutedMsg(b []byte) (origin string, ev core.Event, to []core.Target, _ routed, err error) {
	var r routed
	if len(b) > MaxMessageBytes {
		return "", nil, nil, r, fmt.Errorf("%w: %d bytes", ErrBadMessage, len(b))
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "", nil, nil, r, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	t, ok := eventTypes[r.Kind]
	if !ok {
		return "", nil, nil, r, fmt.Errorf("%w: unknown event %q", ErrBadMessage, r.Kind)
	}
	if err := checkNodeID(r.Origin); err != nil {
		return "", nil, nil, r, fmt.Errorf("%w: origin: %v", ErrBadMessage, err)
	}
	if len(r.To) == 0 || len(r.To) > MaxTargets {
		return "", nil, nil, r, fmt.Errorf("%w: %d targets", ErrBadMessage, len(r.To))
	}
	for _, tg := range r.To {
		if tg.Account == "" || len(tg.Account) > maxAccountLen {
			return "", nil, nil, r, fmt.Errorf("%w: target account", ErrBadMessage)
		}
	}
	v := reflect.New(t)
	if err := json.Unmarshal(r.Event, v.Interface()); err != nil {
		return "", nil, nil, r, fmt.Errorf("%w: %s: %v", ErrBadMessage, r.Kind, err)
	}
	ev = v.Elem().Interface().(core.Event)
	if me, ok := ev.(core.MessageEvent); ok {
		me.Message = plain(me.Message)
		ev = me
	}
	return r.Origin, ev, r.To, r, nil
}

// plain undoes what JSON does to a message without data: a null
// json.RawMessage decodes to the bytes "null", not to nil.
func plain(m core.Message) core.Message {
	if string(m.Data) == "null" {
		m.Data = nil
	}
	return m
}

// sendReply is a node's answer to a message handed to it (core.Peers.Send).
type sendReply struct {
	Sessions int    `json:"s"`
	Online   int    `json:"n"`
	Error    string `json:"err,omitempty"`
	Code     string `json:"code,omitempty"`
	// Elsewhere: the node does not hold the resource the message is for,
	// and decided nothing (Node.Send, "sendto").
	Elsewhere bool `json:"e,omitempty"`
}

func decodeSend(b []byte) (core.PeerMessage, error) {
	var m core.PeerMessage
	if err := unmarshalBounded(b, &m); err != nil {
		return m, err
	}
	m.Message = plain(m.Message)
	return m, nil // Hub.Receive checks it as a client's
}

// checkNodeID: a node ID is a NATS subject token and a key-value key part.
func checkNodeID(id string) error {
	if id == "" || len(id) > 64 {
		return errors.New("node id must be 1 to 64 characters")
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("node id %q: only letters, digits, - and _", id)
		}
	}
	return nil
}

// probe asks a node to show a session on Origin the subjects it holds.
type probe struct {
	Origin   string   `json:"o"`
	Viewer   string   `json:"v"`
	Resource string   `json:"r"`
	Subjects []string `json:"s"`
}

func decodeProbe(b []byte) (probe, error) {
	var p probe
	if err := unmarshalBounded(b, &p); err != nil {
		return p, err
	}
	if err := checkNodeID(p.Origin); err != nil {
		return p, fmt.Errorf("%w: origin: %v", ErrBadMessage, err)
	}
	if len(p.Subjects) > core.MaxProbe {
		return p, fmt.Errorf("%w: %d subjects", ErrBadMessage, len(p.Subjects))
	}
	return p, nil // Hub.Show checks the addresses
}

// unmarshalBounded decodes a bus message of at most MaxMessageBytes into v.
func unmarshalBounded(b []byte, v any) error {
	if len(b) > MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes", ErrBadMessage, len(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	return nil
}
