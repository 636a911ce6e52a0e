package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// Activity is what a user is doing.
type Activity struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail,omitempty"`
}

// SessionPresence is one session of a contact.
type SessionPresence struct {
	Resource     string    `json:"resource"`
	Availability string    `json:"availability"`
	Status       string    `json:"status,omitempty"`
	Activity     *Activity `json:"activity,omitempty"`
	Priority     int       `json:"priority,omitempty"`
}

// Presence is a contact's presence as the server lets us see it.
type Presence struct {
	Address      string            `json:"address"`
	Availability string            `json:"availability"`
	Status       string            `json:"status,omitempty"`
	Activity     *Activity         `json:"activity,omitempty"`
	Priority     int               `json:"priority,omitempty"`
	LastSeen     *time.Time        `json:"last_seen,omitempty"`
	Sessions     []SessionPresence `json:"sessions,omitempty"`
}

// Frame is any frame the server sends. Type says which fields are set; Raw
// holds the whole frame for fields not mirrored here.
type Frame struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	Seq  uint64 `json:"seq,omitempty"`
	// error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// ok
	Delivered int  `json:"delivered,omitempty"`
	Stored    bool `json:"stored,omitempty"` // a message kept for its recipient's next session
	// offline: a message stored while this account was away (docs/offline.md)
	OfflineID int64      `json:"offline_id,omitempty"`
	Sent      *time.Time `json:"sent,omitempty"`
	// welcome
	Session   string `json:"session,omitempty"`
	Resumed   bool   `json:"resumed,omitempty"`
	Heartbeat int    `json:"heartbeat,omitempty"`
	Grace     int    `json:"grace,omitempty"` // seconds the session stays online after its connection drops
	// snapshot
	Self          *Presence      `json:"self,omitempty"`
	Presences     []Presence     `json:"presence,omitempty"`
	Subscriptions []Subscription `json:"subscriptions,omitempty"`
	// presence (fields of Presence) and subscription
	Presence
	Subscription string `json:"subscription,omitempty"`
	PendingIn    bool   `json:"pending_in,omitempty"`
	PendingOut   bool   `json:"pending_out,omitempty"`
	// message, signal
	From string          `json:"from,omitempty"`
	To   string          `json:"to,omitempty"`
	Body string          `json:"body,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
	// calls (docs/calls.md): the call's ID, what happened (incoming,
	// ringing, answered, ended), and for ended the reason
	Call  string `json:"call,omitempty"`
	Event string `json:"event,omitempty"`
	// goaway, and an ended call
	Reason    string `json:"reason,omitempty"`
	Reconnect bool   `json:"reconnect,omitempty"`

	Raw json.RawMessage `json:"-"`
}

// ConnectOptions describe a new live session.
type ConnectOptions struct {
	Device   string
	Accepts  []string  // "message", "signal"; nil: both
	Presence *Presence // initial presence (Availability, Status, Activity, Priority)
	// Grace asks for a longer grace period, in seconds (hello's grace; the
	// server grants at most its max_grace); 0 keeps the server's.
	Grace int
}

// transport moves frames; ws and longpoll implement it.
type transport interface {
	send(ctx context.Context, frame []byte) error
	close(graceful bool)
	resume(ctx context.Context, session string, seq uint64) error
}

// Session is a live session on either transport.
type Session struct {
	t        transport
	Resource string // the server-assigned session name
	Address  string // full address
	Welcome  Frame

	mu      sync.Mutex
	nextID  int
	waiting map[string]chan Frame
	lastSeq uint64
	queue   []Frame       // events not yet taken by Next, at most maxBuffered
	notify  chan struct{} // signalled when queue gains an event
	onEvent func(Frame)   // takes events instead of queue (OnEvent); under recv
	recv    sync.Mutex    // one receive at a time: onEvent sees events in order
}

// maxBuffered bounds events not yet read with Next.
const maxBuffered = 4096

func newSession(t transport) *Session {
	return &Session{t: t, waiting: map[string]chan Frame{}, notify: make(chan struct{}, 1)}
}

// OnEvent has f take the session's events from now on (every frame Next
// would return), one at a time and in order, on the goroutine reading the
// connection; Next then gets none. Events already queued go to f first.
// Only Type, ID, Seq and Raw are set, and Raw is valid only during the
// call: the reader reuses its buffer. f must return soon and must not wait
// for the session (a Request's reply is read by the goroutine f runs on).
// A load generator uses it so that a frame costs no copy, no queue and no
// goroutine hand-off. OnEvent(nil) queues events for Next again.
func (s *Session) OnEvent(f func(Frame)) {
	s.recv.Lock()
	defer s.recv.Unlock()
	s.mu.Lock()
	queued := s.queue
	s.queue, s.onEvent = nil, f
	if f == nil {
		s.queue = queued
	}
	s.mu.Unlock()
	if f != nil {
		for _, e := range queued {
			f(e)
		}
	}
}

// receive routes one frame; raw may be reused once it returns (what is
// kept is copied). Only its header is decoded here; events are decoded in
// full when read with Next.
func (s *Session) receive(raw []byte) {
	var f Frame
	if seq, ok := presenceHeader(raw); ok {
		f.Type, f.Seq = "presence", seq
	} else {
		var h struct {
			Type string `json:"type"`
			ID   string `json:"id"`
			Seq  uint64 `json:"seq"`
		}
		if err := json.Unmarshal(raw, &h); err != nil {
			return
		}
		f.Type, f.ID, f.Seq = h.Type, h.ID, h.Seq
	}
	f.Raw = raw
	s.recv.Lock()
	defer s.recv.Unlock()
	s.mu.Lock()
	if f.Seq != 0 {
		if f.Seq <= s.lastSeq {
			s.mu.Unlock()
			return // a repeat after a resumption
		}
		s.lastSeq = f.Seq
	}
	if f.Seq == 0 && f.ID != "" {
		if ch, ok := s.waiting[f.ID]; ok {
			delete(s.waiting, f.ID)
			s.mu.Unlock()
			f.Raw = append(json.RawMessage(nil), raw...)
			json.Unmarshal(f.Raw, &f)
			ch <- f
			return
		}
	}
	if s.onEvent != nil {
		s.mu.Unlock()
		s.onEvent(f)
		return
	}
	if len(s.queue) < maxBuffered { // a reader that does not keep up loses events, not memory
		f.Raw = append(json.RawMessage(nil), raw...)
		s.queue = append(s.queue, f)
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// presenceHeader reads the sequence number of a presence event in the form
// the server writes it, {"type":"presence","seq":N,…}, without decoding the
// frame: a fan-out brings many of them, and a presence event has no id. Any
// other frame is left to encoding/json.
func presenceHeader(raw []byte) (seq uint64, ok bool) {
	const prefix = `{"type":"presence","seq":`
	if !bytes.HasPrefix(raw, []byte(prefix)) {
		return 0, false
	}
	digits := raw[len(prefix):]
	n := 0
	for ; n < len(digits) && digits[n] >= '0' && digits[n] <= '9'; n++ {
		d := uint64(digits[n] - '0')
		if seq > (math.MaxUint64-d)/10 {
			return 0, false // overflows: not a sequence number we sent
		}
		seq = seq*10 + d
	}
	if n == 0 || n == len(digits) || (digits[n] != ',' && digits[n] != '}') {
		return 0, false
	}
	return seq, true
}

// LastSeq is the sequence number of the last event received.
func (s *Session) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq
}

// Request sends a frame (fields other than type and id as a map) and waits
// for its reply; an error frame becomes *Error.
func (s *Session) Request(ctx context.Context, typ string, fields map[string]any) (Frame, error) {
	s.mu.Lock()
	s.nextID++
	id := "c" + strconv.Itoa(s.nextID)
	ch := make(chan Frame, 1)
	s.waiting[id] = ch
	s.mu.Unlock()
	m := map[string]any{"type": typ, "id": id}
	for k, v := range fields {
		m[k] = v
	}
	raw, _ := json.Marshal(m)
	if err := s.t.send(ctx, raw); err != nil {
		return Frame{}, err
	}
	select {
	case f := <-ch:
		if f.Type == "error" {
			return f, &Error{Code: f.Code, Message: f.Message}
		}
		return f, nil
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.waiting, id)
		s.mu.Unlock()
		return Frame{}, ctx.Err()
	}
}

// Send sends a frame that takes no reply (ack).
func (s *Session) Send(ctx context.Context, frame map[string]any) error {
	raw, _ := json.Marshal(frame)
	return s.t.send(ctx, raw)
}

// Next returns the next event (a frame with a sequence number, or goaway).
func (s *Session) Next(ctx context.Context) (Frame, error) {
	f, err := s.NextRaw(ctx)
	if err == nil {
		err = json.Unmarshal(f.Raw, &f)
	}
	return f, err
}

// NextRaw is Next without decoding: only Type, ID, Seq and Raw are set.
// Load generators use it to spend their CPU on load, not on parsing.
func (s *Session) NextRaw(ctx context.Context) (Frame, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			f := s.queue[0]
			s.queue[0] = Frame{}
			s.queue = s.queue[1:]
			if len(s.queue) == 0 {
				s.queue = nil
			}
			s.mu.Unlock()
			return f, nil
		}
		s.mu.Unlock()
		select {
		case <-s.notify:
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
}

// WaitFor returns the first event for which match is true, discarding others.
func (s *Session) WaitFor(ctx context.Context, match func(Frame) bool) (Frame, error) {
	for {
		f, err := s.Next(ctx)
		if err != nil {
			return f, err
		}
		if match(f) {
			return f, nil
		}
	}
}

// SetPresence publishes this session's presence.
func (s *Session) SetPresence(ctx context.Context, p Presence) error {
	_, err := s.Request(ctx, "presence", map[string]any{"availability": p.Availability, "status": p.Status, "activity": p.Activity, "priority": p.Priority})
	return err
}

// Message sends a text message; it returns how many sessions got it.
func (s *Session) Message(ctx context.Context, to, body string) (int, error) {
	f, err := s.Request(ctx, "message", map[string]any{"to": to, "body": body})
	return f.Delivered, err
}

// Signal sends opaque JSON (a WebRTC offer, say) to to.
func (s *Session) Signal(ctx context.Context, to string, data any) (int, error) {
	f, err := s.Request(ctx, "signal", map[string]any{"to": to, "data": data})
	return f.Delivered, err
}

// AckOffline deletes the stored messages the client has (offline frames'
// offline_id).
func (s *Session) AckOffline(ctx context.Context, ids ...int64) error {
	_, err := s.Request(ctx, "offline_ack", map[string]any{"offline_ids": ids})
	return err
}

// Ack tells the server every event so far arrived.
func (s *Session) Ack(ctx context.Context) error {
	return s.Send(ctx, map[string]any{"type": "ack", "seq": s.LastSeq()})
}

// Close says bye: the session ends at once for everybody.
func (s *Session) Close(ctx context.Context) error {
	_, err := s.Request(ctx, "bye", nil)
	s.t.close(true)
	return err
}

// Drop cuts the connection without saying bye, as a network failure would.
// The session stays online on the server for its grace period. Over
// long-polling it returns once the poll loop has stopped, so the Client
// may be changed (BaseURL) before a Resume; it must not be called from
// OnEvent's function, which runs on that loop.
func (s *Session) Drop() { s.t.close(false) }

// Resume reconnects a dropped session and receives what it missed.
func (s *Session) Resume(ctx context.Context) error {
	return s.t.resume(ctx, s.Resource, s.LastSeq())
}

// resumeInfo names the session to resume and the last event received.
type resumeInfo struct {
	Session string `json:"session"`
	Seq     uint64 `json:"seq"`
}

func hello(token string, o ConnectOptions, resume *resumeInfo) []byte {
	m := map[string]any{"type": "hello", "id": "hello"}
	if token != "" {
		m["token"] = token
	}
	if o.Device != "" {
		m["device"] = o.Device
	}
	if o.Accepts != nil {
		m["accepts"] = o.Accepts
	}
	if o.Presence != nil {
		m["presence"] = map[string]any{"availability": o.Presence.Availability, "status": o.Presence.Status, "activity": o.Presence.Activity, "priority": o.Presence.Priority}
	}
	if o.Grace > 0 {
		m["grace"] = o.Grace
	}
	if resume != nil {
		m["resume"] = resume
	}
	b, _ := json.Marshal(m)
	return b
}

// welcome checks a reply to hello.
func welcome(raw []byte) (Frame, error) {
	var f Frame
	if err := json.Unmarshal(raw, &f); err != nil {
		return f, fmt.Errorf("bad hello reply: %w", err)
	}
	if f.Type == "error" {
		return f, &Error{Code: f.Code, Message: f.Message}
	}
	if f.Type != "welcome" {
		return f, errors.New("hello was not answered with welcome")
	}
	return f, nil
}
