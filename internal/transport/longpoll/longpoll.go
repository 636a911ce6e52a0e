// Package longpoll carries presenced's JSON protocol over HTTP long-polling:
// the same frames as the WebSocket transport, batched into POST requests.
//
// Every poll re-attaches the session (core.Hub.Resume with the client's last
// received sequence number), so a lost response is simply sent again, and
// between polls the session waits in its grace period exactly as a dropped
// WebSocket session does. The transport keeps no state of its own.
package longpoll

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/jsonerr"
	"github.com/presenced/presenced/internal/problem"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/wire"
)

// Limits of one poll.
const (
	MaxBody     = 256 << 10
	MaxFrames   = 32
	MaxEvents   = 256
	DefaultWait = 25 * time.Second
	MaxWait     = 55 * time.Second
)

// Request is the body of POST /v1/poll.
type Request struct {
	Session string            `json:"session,omitempty"` // empty: the first frame must be hello
	Ack     uint64            `json:"ack"`               // last sequence number received
	Frames  []json.RawMessage `json:"frames,omitempty"`
	Wait    *float64          `json:"wait,omitempty"` // seconds to hold the poll when nothing is waiting
}

// Response is the answer of a poll.
type Response struct {
	Session string            `json:"session,omitempty"`
	Frames  []json.RawMessage `json:"frames"`
}

// Handler serves POST /v1/poll.
type Handler struct {
	Proto *wire.Server
	Live  *atomic.Int64 // polls being held, for metrics
}

// sink is the core.Sink of one poll request.
type sink struct {
	wake chan struct{}
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
	bye  *core.Goaway
}

func newSink() *sink { return &sink{wake: make(chan struct{}, 1), done: make(chan struct{})} }

func (k *sink) Wake() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

func (k *sink) Close(g core.Goaway) {
	k.mu.Lock()
	if g.Reason != core.GoawayReplaced { // a newer poll took over: just return
		k.bye = &g
	}
	k.mu.Unlock()
	k.once.Do(func() { close(k.done) })
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		problem.WriteStatus(w, http.StatusMethodNotAllowed, core.CodeInvalid, "poll with POST")
		return
	}
	checked := h.Proto.Hub.Checkpoint() // before the token is read: core.Checkpoint
	tok, err := h.Proto.Auth.VerifySession(r.Context(), auth.BearerToken(r.Header.Get("Authorization")))
	if err != nil {
		problem.Write(w, core.CodeUnauthorized, "a valid bearer token is required in the Authorization header")
		return
	}
	var req Request
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		problem.Write(w, core.CodeTooLarge, "request body is larger than 256 KiB")
		return
	case err != nil:
		problem.Write(w, core.CodeInvalid, "cannot read the request body")
		return
	case !utf8.Valid(body):
		problem.Write(w, core.CodeInvalid, "request body is not valid UTF-8")
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		problem.Write(w, core.CodeInvalid, "body must be a poll request object: "+jsonerr.Describe(err))
		return
	}
	if len(req.Frames) > MaxFrames {
		problem.Write(w, core.CodeInvalid, "at most 32 frames per poll")
		return
	}
	wait := DefaultWait
	if req.Wait != nil {
		wait = time.Duration(*req.Wait * float64(time.Second))
		if wait < 0 || wait > MaxWait {
			problem.Write(w, core.CodeInvalid, "wait must be between 0 and 55 seconds")
			return
		}
	}
	h.Live.Add(1)
	defer h.Live.Add(-1)
	resp := h.poll(r.Context(), tok, checked, req, wait)
	if resp.Frames == nil {
		resp.Frames = []json.RawMessage{} // "frames": [], never null
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(resp)
}

func (h *Handler) poll(ctx context.Context, tok store.Token, checked core.Checkpoint, req Request, wait time.Duration) Response {
	k := newSink()
	c := h.Proto.NewConn("longpoll", &tok, checked)
	var out Response
	frames := req.Frames
	if req.Session != "" {
		s, err := c.ResumeAs(ctx, req.Session, req.Ack, k)
		if err != nil {
			return Response{Frames: []json.RawMessage{wire.Error("", err)}}
		}
		// a poll with frames is charged per frame (by Handle); an empty one
		// is charged itself, so polling in a tight loop is refused too
		if len(frames) == 0 {
			if ok, _ := s.Spend(); !ok {
				s.Detach(k)
				return Response{Session: s.Resource, Frames: []json.RawMessage{wire.Error("", core.Errorf(core.CodeRateLimited, "polling too fast"))}}
			}
		}
	} else {
		if len(frames) == 0 {
			return Response{Frames: []json.RawMessage{wire.Error("", core.Errorf(core.CodeInvalid, "a poll without session starts with a hello frame"))}}
		}
		f, err := wire.Decode(frames[0])
		if err != nil {
			return Response{Frames: []json.RawMessage{wire.Error("", err)}}
		}
		reply, _ := c.Hello(ctx, f, k)
		out.Frames = append(out.Frames, reply)
		if c.Session == nil {
			return out
		}
		frames = frames[1:]
	}
	s := c.Session
	out.Session = s.Resource
	closing := false
	for _, raw := range frames {
		var reply []byte
		f, err := wire.Decode(raw)
		if err != nil {
			reply, err = c.Invalid(err)
		} else {
			reply, err = c.Handle(ctx, f)
		}
		if reply != nil {
			out.Frames = append(out.Frames, reply)
		}
		if errors.Is(err, wire.ErrClose) {
			closing = true
			break
		}
	}
	if closing {
		c.Finish()
		s.Detach(k)
		return out
	}
	if len(out.Frames) == 0 && !s.Pending() && wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-k.wake:
		case <-k.done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	k.mu.Lock()
	bye := k.bye
	k.mu.Unlock()
	select {
	case <-k.done:
		if bye != nil {
			out.Frames = append(out.Frames, wire.GoawayFrame(*bye))
		}
		return out // replaced by a newer poll, or ended: that one gets the events
	default:
	}
	for _, d := range s.Pull(k, MaxEvents) {
		out.Frames = append(out.Frames, wire.Event(d))
	}
	s.Detach(k)
	return out
}
