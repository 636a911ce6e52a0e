package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/internal/core"
)

// Rooms across nodes (core/roompeers.go): the bucket NS_rooms maps a
// room to its home node. The first join claims a room (Create: one node
// wins); a home declared dead is taken over (Update at the entry's
// revision: one node wins). An entry stays while its node lives, so a
// room keeps its home between occupants; it costs one key per room used.
// Steps of sessions are requests to the home on NS.room.NODE; notices and
// the home's events for occupants elsewhere go through the node's ordered
// queue (NS.room.NODE, NS.roomev.NODE).

// roomKey is the bucket key of a room: its namespace and name in base64url.
func roomKey(id core.RoomID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id.App + "\x00" + id.Name))
}

// RoomHome is core.Peers's.
func (n *Node) RoomHome(ctx context.Context, id core.RoomID) (string, error) {
	if !n.up.Load() {
		return "", ErrNotStarted
	}
	k := roomKey(id)
	for range 5 {
		e, err := n.kvRooms.Get(k)
		if errors.Is(err, nats.ErrKeyNotFound) {
			if _, err = n.kvRooms.Create(k, []byte(n.id)); err == nil {
				return "", nil // claimed
			}
			continue // another node claimed it meanwhile: read it
		}
		if err != nil {
			return "", fmt.Errorf("%w: room home: %v", ErrBus, err)
		}
		home := string(e.Value())
		if home == n.id {
			return "", nil
		}
		if checkNodeID(home) == nil && n.mayBeAlive(home) {
			return home, nil
		}
		if _, err = n.kvRooms.Update(k, []byte(n.id), e.Revision()); err == nil {
			return "", nil // its home is dead: taken over
		}
	}
	return "", fmt.Errorf("%w: room home: contended", ErrBus)
}

// mayBeAlive: node is live, or this node started too recently to have
// heard it.
func (n *Node) mayBeAlive(node string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.dead[node] {
		return false
	}
	_, heard := n.seen[node]
	return heard || time.Since(n.started) < n.cfg.DeadAfter
}

// RoomStep is core.Peers's: the home runs the step.
func (n *Node) RoomStep(ctx context.Context, node string, st core.RoomStep) (core.RoomAnswer, error) {
	if !n.up.Load() {
		return core.RoomAnswer{}, ErrNotStarted
	}
	if checkNodeID(node) != nil {
		return core.RoomAnswer{}, fmt.Errorf("%w: room step: node %q", ErrBus, node)
	}
	b, err := json.Marshal(roomStep{Origin: n.id, Step: st})
	if err != nil {
		return core.RoomAnswer{}, fmt.Errorf("cluster: encode room step: %w", err)
	}
	var r roomReply
	if err := n.request(ctx, node, "room", b, &r); err != nil { // bounded by SendTimeout
		return core.RoomAnswer{}, err
	}
	if r.Error != "" {
		return core.RoomAnswer{}, core.Errorf(core.Code(r.Code), "%s", r.Error)
	}
	if len(r.Accounts) > MaxTargets {
		return core.RoomAnswer{}, fmt.Errorf("%w: room reply of %d accounts", ErrBadMessage, len(r.Accounts))
	}
	return core.RoomAnswer{Sessions: max(r.Sessions, 0), Accounts: r.Accounts}, nil
}

// RoomNotify is core.Peers's.
func (n *Node) RoomNotify(node string, st core.RoomStep) {
	n.notify(node, "room", roomStep{Origin: n.id, Step: st})
}

// RoomEvents is core.Peers's.
func (n *Node) RoomEvents(node string, ev core.Event, to []core.RoomTarget) {
	if !n.up.Load() || checkNodeID(node) != nil {
		return
	}
	for len(to) > 0 {
		part := to[:min(len(to), MaxTargets)]
		to = to[len(part):]
		b, err := encodeRoomEvents(n.id, ev, part)
		if err != nil || len(b) > MaxMessageBytes {
			n.metrics.Dropped.Add(1)
			continue
		}
		n.enqueue(node, "roomev", b)
	}
}

type roomStep struct {
	Origin string        `json:"o"`
	Step   core.RoomStep `json:"s"`
}

type roomReply struct {
	Sessions int      `json:"s"`
	Accounts []string `json:"a,omitempty"` // a list of the room's accounts
	Error    string   `json:"err,omitempty"`
	Code     string   `json:"code,omitempty"`
}

// onRoomStep runs a step of another node's session at this home (a
// request), or a notice.
func (n *Node) onRoomStep(msg *nats.Msg) {
	var rs roomStep
	var r roomReply
	err := decodeBounded(msg.Data, &rs)
	if err == nil {
		if err = checkNodeID(rs.Origin); err != nil {
			err = fmt.Errorf("%w: origin: %v", ErrBadMessage, err)
		}
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.SendTimeout)
		var a core.RoomAnswer
		a, err = n.hub.RoomStepFrom(ctx, rs.Origin, rs.Step)
		r.Sessions, r.Accounts = a.Sessions, a.Accounts
		cancel()
	}
	if err == nil {
		if b, _ := json.Marshal(r); len(b) > MaxMessageBytes {
			err = core.Errorf(core.CodeLimit, "the list is too long to cross the cluster: ask from a session on the room's node")
		}
	}
	if err != nil {
		sr := replyError(err)
		r.Error, r.Code = sr.Error, sr.Code
	}
	n.answer(msg, err, r)
}

// roomEvents is a room's event for occupants of one node.
type roomEvents struct {
	Origin string            `json:"o"`
	Kind   string            `json:"k"`
	Event  json.RawMessage   `json:"e"`
	To     []core.RoomTarget `json:"t"`
}

func encodeRoomEvents(origin string, ev core.Event, to []core.RoomTarget) ([]byte, error) {
	t := reflect.TypeOf(ev)
	if t == nil || eventTypes[t.Name()] != t {
		return nil, fmt.Errorf("cluster: event %T cannot cross nodes", ev)
	}
	e, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return json.Marshal(roomEvents{Origin: origin, Kind: t.Name(), Event: e, To: to})
}

func decodeRoomEvents(b []byte) (origin string, ev core.Event, to []core.RoomTarget, err error) {
	var r roomEvents
	if err := decodeBounded(b, &r); err != nil {
		return "", nil, nil, err
	}
	t, ok := eventTypes[r.Kind]
	switch {
	case !ok:
		return "", nil, nil, fmt.Errorf("%w: unknown event %q", ErrBadMessage, r.Kind)
	case checkNodeID(r.Origin) != nil:
		return "", nil, nil, fmt.Errorf("%w: origin", ErrBadMessage)
	case len(r.To) == 0 || len(r.To) > MaxTargets:
		return "", nil, nil, fmt.Errorf("%w: %d targets", ErrBadMessage, len(r.To))
	}
	v := reflect.New(t)
	if err := json.Unmarshal(r.Event, v.Interface()); err != nil {
		return "", nil, nil, fmt.Errorf("%w: %s: %v", ErrBadMessage, r.Kind, err)
	}
	return r.Origin, v.Elem().Interface().(core.Event), r.To, nil
}

// onRoomEvents delivers a home's room event to this node's occupants.
func (n *Node) onRoomEvents(msg *nats.Msg) {
	origin, ev, to, err := decodeRoomEvents(msg.Data)
	if err != nil {
		n.metrics.BadIn.Add(1)
		return
	}
	n.metrics.RoutedIn.Add(1)
	n.hub.RoomEventsFrom(origin, ev, to)
}

// decodeBounded decodes a bus message of at most MaxMessageBytes.
func decodeBounded(b []byte, v any) error {
	if len(b) > MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes", ErrBadMessage, len(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	return nil
}
