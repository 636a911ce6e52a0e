package client

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"
)

// ConnectPoll opens a live session over HTTP long-polling: same frames,
// same semantics as Connect.
func (c *Client) ConnectPoll(ctx context.Context, o ConnectOptions) (*Session, error) {
	t := &lpTransport{c: c}
	s := newSession(t)
	t.s = s
	var resp pollResponse
	if err := c.Do(ctx, "POST", "/v1/poll", map[string]any{"frames": []json.RawMessage{hello("", o, nil)}, "wait": 0}, &resp); err != nil {
		return nil, err
	}
	if len(resp.Frames) == 0 {
		return nil, errors.New("empty answer to hello")
	}
	w, err := welcome(resp.Frames[0])
	if err != nil {
		return nil, err
	}
	w.Raw = resp.Frames[0]
	var full struct{ Address string }
	_ = jsonUnmarshal(w.Raw, &full)
	s.Welcome, s.Resource, s.Address = w, resp.Session, full.Address
	t.session = resp.Session
	for _, f := range resp.Frames[1:] {
		s.receive(f)
	}
	t.startLoop()
	return s, nil
}

type pollResponse struct {
	Session string            `json:"session"`
	Frames  []json.RawMessage `json:"frames"`
}

type lpTransport struct {
	c       *Client
	s       *Session
	session string
	mu      sync.Mutex
	cancel  context.CancelFunc // stops the poll loop
	done    chan struct{}      // closed once the poll loop has returned
}

func (t *lpTransport) startLoop() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.mu.Lock()
	t.cancel, t.done = cancel, done
	t.mu.Unlock()
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := t.poll(ctx, nil, 25); err != nil {
				var pe *Error
				if errors.As(err, &pe) && (pe.Status == 401 || pe.Code == "session_expired") {
					// the session is gone: told like the server's goaway
					// (which a session ended between two polls never sees)
					bye, _ := json.Marshal(map[string]any{"type": "goaway", "reason": pe.Message, "reconnect": false})
					t.s.receive(bye)
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond):
				}
			}
		}
	}()
}

// poll sends frames (maybe none) and hands every answer frame to the session.
func (t *lpTransport) poll(ctx context.Context, frames []json.RawMessage, wait float64) error {
	var resp pollResponse
	err := t.c.Do(ctx, "POST", "/v1/poll", map[string]any{"session": t.session, "ack": t.s.LastSeq(), "frames": frames, "wait": wait}, &resp)
	if err != nil {
		return err
	}
	for _, f := range resp.Frames {
		t.s.receive(f)
		var e struct{ Type, Code, ID string }
		if json.Unmarshal(f, &e) == nil && e.Type == "error" && e.ID == "" {
			return &Error{Code: e.Code, Message: "poll refused: " + e.Code} // the loop backs off
		}
	}
	return nil
}

func (t *lpTransport) send(ctx context.Context, frame []byte) error {
	return t.poll(ctx, []json.RawMessage{frame}, 0)
}

// close stops the poll loop and waits until it has returned: a poll it
// had begun before the cancel could otherwise still read the Client (its
// BaseURL, which a caller may point elsewhere before a resume) or hand
// frames to the session after close.
func (t *lpTransport) close(bool) {
	t.mu.Lock()
	cancel, done := t.cancel, t.done
	t.cancel, t.done = nil, nil
	t.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (t *lpTransport) resume(ctx context.Context, _ string, _ uint64) error {
	t.close(false)
	if err := t.poll(ctx, nil, 0); err != nil {
		return err
	}
	t.startLoop()
	return nil
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
