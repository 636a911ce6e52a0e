package wire

import (
	"context"
	"errors"
	"time"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

// Server is what the protocol needs from the rest of presenced.
type Server struct {
	Hub       *core.Hub
	Auth      *auth.Auth
	Grace     time.Duration
	Heartbeat time.Duration
	// MaxGrace bounds the grace period a hello may ask for (never below
	// Grace): a longer one keeps a vanished client's session online, and
	// shown to its contacts, that long.
	MaxGrace time.Duration
}

// grant is the grace period given to a hello that asks for seconds: at
// least the server's own, at most MaxGrace. Asking for more than the
// maximum is no error, it gets the maximum.
func (s *Server) grant(seconds int64) time.Duration {
	most := max(s.MaxGrace, s.Grace)
	if seconds >= int64(most/time.Second) {
		return most
	}
	return max(time.Duration(seconds)*time.Second, s.Grace)
}

// Conn is the protocol state of one client: who it is and its session.
type Conn struct {
	srv     *Server
	Session *core.Session
	// signin is what authenticated the client (by header, cookie or
	// hello), until its session is open: the session keeps what it needs
	// of it, so an idle connection holds no second copy.
	signin *signin
	bye    bool
	stored bool   // the last message frame was stored for later
	called string // the call a call frame placed, for its reply
}

// signin is what a credential proved, and how the client connects.
type signin struct {
	transport string
	account   string
	// credential is the ID of the token that authenticated it: revoking
	// that token ends the session (core lifecycle).
	credential string
	// checked is the hub's Checkpoint taken before the credential was
	// verified (core.SessionOptions.Checked).
	checked core.Checkpoint
	// app is set when an app's access token authenticated it, with the
	// scopes its user granted the app: the session is the app's channel
	// (docs/apps.md).
	app    string
	scopes []string
	// bearer is a token the transport received with the connection (the
	// WebSocket upgrade's Authorization header) and left to Hello to
	// verify, unless the hello carries a token of its own: verified there,
	// its store read runs where the hello's own would, on a frame worker
	// with no request context to watch, instead of on net/http's
	// goroutine (docs/benchmarks.md, issue 9).
	bearer string
}

// SetBearer leaves token, received with the connection, to Hello to verify
// (signin.bearer).
func (c *Conn) SetBearer(token string) { c.signin.bearer = token }

// Finish ends the session if the client said bye; transports call it after
// sending the last reply.
func (c *Conn) Finish() {
	if c.bye && c.Session != nil {
		c.Session.Close()
	}
}

// NewConn starts a connection over transport ("ws", "longpoll"). tok,
// when the transport already authenticated the client (Authorization
// header or web session cookie), is what it proved, and checked the
// checkpoint taken before verifying it; nil: hello must carry a token.
func (s *Server) NewConn(transport string, tok *store.Token, checked core.Checkpoint) *Conn {
	c := &Conn{srv: s, signin: &signin{transport: transport, checked: checked}}
	if tok != nil {
		c.authenticated(*tok)
	}
	return c
}

// authenticated records what tok proves.
func (c *Conn) authenticated(tok store.Token) {
	in := c.signin
	in.account, in.credential, in.app, in.scopes = tok.Account, tok.ID, tok.App, tok.Scopes
}

// opened records the client's session, which keeps what signin said.
func (c *Conn) opened(s *core.Session) {
	c.Session, c.signin = s, nil
}

// ErrClose is returned with the last frame to send when the connection must
// close (after "bye", or for abuse).
var ErrClose = errors.New("close connection")

// Hello handles the first frame: authenticate, then connect a new session or
// resume one. The reply is the welcome frame (or an error).
func (c *Conn) Hello(ctx context.Context, f ClientFrame, sink core.Sink) ([]byte, error) {
	if f.Type != "hello" {
		return Error(f.ID, core.Errorf(core.CodeUnauthorized, "the first frame must be hello")), ErrClose
	}
	secret := f.Token
	if secret == "" && c.signin != nil {
		secret = c.signin.bearer
	}
	if c.signin != nil {
		c.signin.bearer = ""
	}
	if secret != "" {
		checked := c.srv.Hub.Checkpoint()
		tok, err := c.srv.Auth.VerifySession(ctx, secret)
		if err != nil {
			return Error(f.ID, core.Errorf(core.CodeUnauthorized, "%v", err)), ErrClose
		}
		c.authenticated(tok)
		c.signin.checked = checked
	}
	in := c.signin
	if in.account == "" {
		return Error(f.ID, core.Errorf(core.CodeUnauthorized, "hello needs a token")), ErrClose
	}
	if f.Grace != nil && *f.Grace < 0 {
		return Error(f.ID, core.Errorf(core.CodeInvalid, "grace must be a whole number of seconds, not negative")), nil
	}
	var (
		s       *core.Session
		resumed bool
		err     error
	)
	if f.Resume != nil {
		// a session of a node of the cluster that is gone is adopted here
		s, _, err = c.srv.Hub.ResumeAs(ctx, in.account, f.Resume.Session, f.Resume.Seq, c.sessionOptions(), sink)
		resumed = err == nil // a resume that resynced, or was adopted, is still the same session
		if resumed {
			if err := s.SetCredential(in.credential, in.checked); err != nil {
				return Error(f.ID, err), ErrClose
			}
		}
	} else {
		opts := c.sessionOptions()
		opts.Device, opts.Accepts, opts.Topics = f.Device, f.Accepts, f.Topics
		if f.Presence != nil {
			p := f.Presence.core()
			opts.Presence = &p
		}
		s, err = c.srv.Hub.Connect(ctx, in.account, opts, sink)
	}
	if err != nil {
		return Error(f.ID, err), nil // the client may try again (e.g. connect anew after session_expired)
	}
	c.opened(s)
	if f.Grace != nil { // before the transport can detach: the session's first drop already waits this long
		s.SetGrace(c.srv.grant(*f.Grace))
	}
	return mustJSON(welcomeFrame{Type: "welcome", ID: f.ID, Session: s.Resource, Address: s.Self(), Resumed: resumed,
		Seq: s.Seq(), Grace: int(s.Grace() / time.Second), Heartbeat: int(c.srv.Heartbeat / time.Second)}), nil
}

// sessionOptions describe a session of this connection: its sessions
// may be resumed on another node of a cluster (core adopt.go).
func (c *Conn) sessionOptions() core.SessionOptions {
	in := c.signin
	return core.SessionOptions{Transport: in.transport, Credential: in.credential, Checked: in.checked,
		Channel: core.Channel{App: in.app}, Scopes: in.scopes, Resumable: true}
}

// ResumeAs resumes the session named by a long-poll request (whose
// transport authenticated it), or adopts it from a node that is gone.
func (c *Conn) ResumeAs(ctx context.Context, session string, ack uint64, sink core.Sink) (*core.Session, error) {
	s, _, err := c.srv.Hub.ResumeAs(ctx, c.signin.account, session, ack, c.sessionOptions(), sink)
	if err == nil {
		c.opened(s)
	}
	return s, err
}

// Handle answers one frame after hello. It returns nil for frames that take
// no answer (ack), and ErrClose when the connection must end after the reply.
func (c *Conn) Handle(ctx context.Context, f ClientFrame) ([]byte, error) {
	s := c.Session
	if ok, abusive := s.Spend(); !ok {
		if abusive {
			return Error(f.ID, core.Errorf(core.CodeRateLimited, "too many requests: closing")), ErrClose
		}
		return Error(f.ID, core.Errorf(core.CodeRateLimited, "too many requests, slow down")), nil
	}
	if reply, ok, err := c.offlineOps(ctx, f); ok {
		switch {
		case err != nil:
			return Error(f.ID, err), nil
		case reply != nil:
			return reply, nil
		}
		return mustJSON(replyFrame{Type: "ok", ID: f.ID}), nil
	}
	c.stored = false
	n, err := c.dispatch(ctx, f)
	switch {
	case errors.Is(err, ErrClose):
		return mustJSON(replyFrame{Type: "ok", ID: f.ID}), ErrClose
	case err != nil:
		if core.CodeOf(err) == core.CodeInvalid && s.Strike() {
			return Error(f.ID, core.Errorf(core.CodeInvalid, "too many invalid requests: closing")), ErrClose
		}
		return Error(f.ID, err), nil
	case f.Type == "ack":
		return nil, nil
	case f.Type == "ping" && f.ID == "":
		return pongReply, nil // shared: replies are not written to
	case f.Type == "ping":
		return mustJSON(replyFrame{Type: "pong", ID: f.ID}), nil
	}
	called := c.called
	c.called = ""
	return mustJSON(replyFrame{Type: "ok", ID: f.ID, Delivered: n, Stored: c.stored, Call: called}), nil
}

// Invalid answers a frame that could not be decoded, closing the connection
// once the client has done so too often.
func (c *Conn) Invalid(err error) ([]byte, error) {
	if c.Session == nil || c.Session.Strike() {
		return Error("", err), ErrClose
	}
	return Error("", err), nil
}

func (c *Conn) dispatch(ctx context.Context, f ClientFrame) (int, error) {
	h, s := c.srv.Hub, c.Session
	me := s.Account
	if n, ok, err := c.callFrame(f); ok {
		return n, err
	}
	if op, ok := graphOps[f.Type]; ok {
		if f.Address == "" {
			return 0, core.Errorf(core.CodeInvalid, "%s needs an address", f.Type)
		}
		return 0, op(h, ctx, me, f.Address)
	}
	if op, ok := roomOps[f.Type]; ok {
		return op(ctx, s, f)
	}
	switch f.Type {
	case "presence":
		return 0, s.SetPresence(f.PresenceFields.core())
	case "invisible":
		if f.Invisible == nil {
			return 0, core.Errorf(core.CodeInvalid, "invisible needs invisible: true or false")
		}
		return 0, h.SetInvisible(ctx, me, *f.Invisible)
	case "message":
		sent, err := s.SendMessage(core.Message{ID: f.ID, Kind: core.KindMessage, To: f.To, Body: f.Body})
		c.stored = sent.Stored
		return sent.Sessions, err
	case "signal":
		return s.Send(core.Message{ID: f.ID, Kind: core.KindSignal, To: f.To, Data: f.Data})
	case "publish":
		_, err := s.Publish(ctx, f.Topic, f.Item, f.Data)
		return 0, err
	case "retract":
		return 0, s.Retract(ctx, f.Topic)
	case "ack":
		s.Ack(f.Seq)
		return 0, nil
	case "ping":
		return 0, nil
	case "bye":
		c.bye = true // the session ends in Finish, after the reply is out
		return 0, ErrClose
	case "hello":
		return 0, core.Errorf(core.CodeInvalid, "already said hello")
	}
	return 0, core.Errorf(core.CodeInvalid, "unknown frame type %q", clip(f.Type))
}

// graphOps are the frames that change a relationship: (actor, address).
var graphOps = map[string]func(*core.Hub, context.Context, string, string) error{
	"subscribe": (*core.Hub).Subscribe, "approve": (*core.Hub).Approve, "deny": (*core.Hub).Deny,
	"unsubscribe": (*core.Hub).Unsubscribe, "remove": (*core.Hub).Remove,
	"block": (*core.Hub).Block, "unblock": (*core.Hub).Unblock, "hide": (*core.Hub).Hide, "unhide": (*core.Hub).Unhide,
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32]
	}
	return s
}
