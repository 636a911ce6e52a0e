package client

import "context"

// Calls (docs/calls.md). A session is rung only if it accepts calls:
// ConnectOptions.Accepts with "call".

// Call rings to (a bare address: every session of the account that
// accepts calls; a full address: that session). It returns the call's ID
// and how many sessions ring. data (nil for none) travels with the ring.
func (s *Session) Call(ctx context.Context, to string, data any) (id string, rung int, err error) {
	fields := map[string]any{"to": to}
	if data != nil {
		fields["data"] = data
	}
	f, err := s.Request(ctx, "call", fields)
	return f.Call, f.Delivered, err
}

// Ringing tells the caller that this session is ringing for call id.
func (s *Session) Ringing(ctx context.Context, id string) error {
	return s.callRequest(ctx, "ringing", id, nil)
}

// Answer takes call id on this session.
func (s *Session) Answer(ctx context.Context, id string, data any) error {
	var fields map[string]any
	if data != nil {
		fields = map[string]any{"data": data}
	}
	return s.callRequest(ctx, "answer", id, fields)
}

// Reject refuses call id: declined, or busy.
func (s *Session) Reject(ctx context.Context, id string, busy bool) error {
	reason := "declined"
	if busy {
		reason = "busy"
	}
	return s.callRequest(ctx, "reject", id, map[string]any{"reason": reason})
}

// Cancel gives up call id before it is answered.
func (s *Session) Cancel(ctx context.Context, id string) error {
	return s.callRequest(ctx, "cancel", id, nil)
}

// Hangup leaves call id.
func (s *Session) Hangup(ctx context.Context, id string) error {
	return s.callRequest(ctx, "hangup", id, nil)
}

// CallSignal sends data (a WebRTC offer, answer or ICE candidate) to the
// other party of the answered call id.
func (s *Session) CallSignal(ctx context.Context, id string, data any) error {
	return s.callRequest(ctx, "signal", id, map[string]any{"data": data})
}

func (s *Session) callRequest(ctx context.Context, typ, id string, fields map[string]any) error {
	m := map[string]any{"call": id}
	for k, v := range fields {
		m[k] = v
	}
	_, err := s.Request(ctx, typ, m)
	return err
}
