// Package ws carries presenced's JSON protocol over WebSocket (RFC 6455).
//
// It implements the server side of the framing itself, straight on the
// hijacked connection: an idle session then holds no read or write buffer
// and no goroutine but its reader, parked in the network poller. That is
// what keeps an idle session within a few KiB (docs/benchmarks.md).
package ws

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/netpoll"
	"github.com/presenced/presenced/internal/websocket"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/wire"
)

// Handler upgrades HTTP requests to WebSocket sessions.
type Handler struct {
	Proto *wire.Server
	// Authenticate returns the token an upgrade request without an
	// Authorization header already proves (the web session cookie), or
	// nil. A bearer token in the header is verified with the hello
	// (wire.Conn.SetBearer).
	Authenticate func(*http.Request) *store.Token
	// OriginAllowed reports whether a browser page from origin may connect
	// with the credentials its request carries (the web session cookie);
	// a page of any other origin must send a token in its hello.
	OriginAllowed func(r *http.Request, origin string) bool
	Log           *slog.Logger
	Live          *atomic.Int64 // open WebSocket sessions, for metrics
	Writes        *atomic.Int64 // writes of events (a write may carry several), for metrics; may be nil
	// WriteDelay spaces one connection's writes at least this far apart:
	// events that arrive sooner wait and go out in one write (and a
	// contact's presence updates merge meanwhile), trading latency for
	// fewer system calls under heavy fan-out. 0 writes at once.
	WriteDelay time.Duration

	startOnce sync.Once
	flusher   *flusher   // flushes connections that can be written without waiting (flusher.go)
	flushq    chan *conn // flushes the others (TLS)
	workq     chan func()
	poller    *netpoll.Poller
	answered  atomic.Int64 // heartbeats answered on the poller's goroutine (answer.go)
}

// Flushing runs on long-lived writer goroutines rather than one new
// goroutine per wake-up: their stacks are already grown, which saves the
// goroutine start and stack copying on every fan-out. An idle session still
// has no writer. A TCP connection is flushed by the flusher's workers, one
// per core, which never wait on a socket (flusher.go). Any other (TLS,
// whose writes may block) goes to a pool of flushWorkers through flushq;
// when that queue is full (writers stuck on slow sockets), a wake-up falls
// back to a goroutine of its own, so nobody waits behind a slow reader for
// long.
//
// Frames are handled on long-lived workers too when one is idle, so the
// deep stack of handling (JSON, the core, SQLite at hello) is grown once
// there rather than on each reader; when none is idle, the frame is
// handled on its connection's own reader instead of waiting (see process).
// The reader waits for its frame's handling, so frames of one connection
// are handled one at a time and in order.
const (
	flushWorkers  = 16
	flushQueue    = 1024
	handleWorkers = 16
)

func (h *Handler) start() {
	h.poller = netpoll.New()
	if h.poller != nil {
		go func() {
			for range time.Tick(h.Proto.Heartbeat) {
				h.poller.Sweep(3 * h.Proto.Heartbeat)
			}
		}()
	}
	h.workq = make(chan func()) // unbuffered: a frame never waits in a queue (process)
	for i := 0; i < handleWorkers; i++ {
		go func() {
			for f := range h.workq {
				f()
			}
		}()
	}
	h.flusher = newFlusher(runtime.GOMAXPROCS(0))
	h.flushq = make(chan *conn, flushQueue)
	for i := 0; i < flushWorkers; i++ {
		go func() {
			for c := range h.flushq {
				c.flush()
			}
		}()
	}
}

const (
	helloTimeout = 10 * time.Second
	writeTimeout = 10 * time.Second
	closeTimeout = 2 * time.Second
	maxBatch     = 64
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, status, msg := websocket.CheckUpgrade(r)
	proto, ok := subprotocol(r)
	if status == 0 && !ok {
		status, msg = http.StatusBadRequest, "unsupported subprotocol; speak "+wire.Version
	}
	if status != 0 {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, msg, status)
		return
	}
	checked := h.Proto.Hub.Checkpoint() // before the credential is read: core.Checkpoint
	var (
		tok    *store.Token
		bearer string
	)
	// A page of another origin proves itself with a token in its hello:
	// the browser's cookie for this server is not the page's to use
	// (cross-site WebSocket hijacking).
	if origin := r.Header.Get("Origin"); origin == "" || h.OriginAllowed(r, origin) {
		if hdr := r.Header.Get("Authorization"); hdr != "" {
			bearer = auth.BearerToken(hdr)
		} else {
			tok = h.Authenticate(r)
		}
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot upgrade", http.StatusInternalServerError)
		return
	}
	h.startOnce.Do(h.start)
	c := &conn{h: h, nc: nc, direct: rawConn(nc) != nil, proto: h.Proto.NewConn("ws", tok, checked)}
	c.proto.SetBearer(bearer)
	if n := brw.Reader.Buffered(); n > 0 { // the client did not wait for our answer
		c.pre, _ = brw.Reader.Peek(n)
		c.pre = append([]byte(nil), c.pre...)
	}
	nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := io.WriteString(nc, websocket.Accept(key, proto)); err != nil {
		nc.Close()
		return
	}
	// A fresh goroutine, so the idle reader's stack does not keep net/http's
	// request-serving frames alive.
	go c.serve()
}

// subprotocol picks ours among those offered; offering none is fine.
func subprotocol(r *http.Request) (string, bool) {
	offered := r.Header.Values("Sec-WebSocket-Protocol")
	if len(offered) == 0 {
		return "", true
	}
	for _, v := range offered {
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == wire.Version {
				return wire.Version, true
			}
		}
	}
	return "", false
}

// conn is one WebSocket connection; it is the core.Sink of its session.
type conn struct {
	h          *Handler
	nc         net.Conn
	pc         netpoll.Conn // parks it while idle
	pre        []byte       // bytes read ahead: sent before our handshake answer, or taken by await
	preBuf     *readBuf     // the pooled buffer pre is in, if it is
	proto      *wire.Conn
	writeMu    sync.Mutex
	writing    atomic.Bool  // a flush goroutine runs (or hello is not answered yet)
	closed     atomic.Bool  // the close frame went out
	peerClosed atomic.Bool  // the peer's close frame came in
	direct     bool         // nc can be written without waiting (a TCP connection): flushed by the flusher (flusher.go)
	drained    bool         // await's last read took all that waited (reader only)
	rdSet      bool         // a read deadline is set for the message being read (reader only)
	lastWrite  atomic.Int64 // unix nanoseconds of the last events written, with a WriteDelay
	deadline   int64        // write deadline currently set, unix nanoseconds (16 bytes less than a time.Time); guarded by writeMu
	finishOnce sync.Once
}

// errParked ends a reader goroutine whose connection went idle in the poller.
var errParked = errors.New("parked")

// Read gives what was read ahead, then reads the socket. The deadline is
// set by the first read of a message that must wait for the socket: a
// message that was read ahead whole (a heartbeat, mostly) sets no timer.
func (c *conn) Read(p []byte) (int, error) {
	if len(c.pre) == 0 {
		if !c.rdSet {
			c.nc.SetReadDeadline(time.Now().Add(c.readTimeout()))
			c.rdSet = true
		}
		if c.proto.Session != nil {
			return c.nc.Read(p)
		}
		c.readAhead() // before the hello
	}
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		if len(c.pre) == 0 {
			c.releasePre()
		}
		return n, nil
	}
	return c.nc.Read(p) // readAhead read nothing: its error, again
}

// readAhead reads what the client sent so far into c.pre with one system
// call, before the hello: websocket.ReadMessage asks for a frame's header,
// mask and payload apart, three reads of the socket that a connection's
// start paid for each. The buffer is await's pooled one, given back once
// the bytes are taken, so an idle connection keeps none. An error is left
// to the read after it.
func (c *conn) readAhead() {
	buf := readBufs.Get().(*readBuf)
	if n, _ := c.nc.Read(buf[:]); n > 0 {
		c.pre, c.preBuf = buf[:n], buf
		return
	}
	readBufs.Put(buf)
}

// readTimeout is how long the message being read may take to come.
func (c *conn) readTimeout() time.Duration {
	switch {
	case c.closed.Load():
		return closeTimeout // we said goodbye: wait briefly for the peer's close
	case c.proto.Session == nil:
		return helloTimeout
	}
	return c.h.Proto.Heartbeat * 3
}

// readBuf is what await reads a woken connection's bytes into: pooled, so
// an idle connection holds none (a heartbeat frame is some 20 bytes).
type readBuf [2048]byte

var readBufs = sync.Pool{New: func() any { return new(readBuf) }}

func (c *conn) releasePre() {
	c.pre = nil
	if c.preBuf != nil {
		readBufs.Put(c.preBuf)
		c.preBuf = nil
	}
}

// await runs between the messages of a session when nothing was read
// ahead: it takes what waits on the socket without waiting (one read
// system call for a whole heartbeat frame, where reading it through the
// framing takes three), or parks the connection in the poller once
// nothing does, so that an idle session waits there rather than in a
// goroutine. It reports whether the connection parked (its reader then
// exits); if not, the next message is read from what was taken, or from
// the socket.
func (c *conn) await() (parked bool, err error) {
	if !c.drained {
		buf := readBufs.Get().(*readBuf)
		n, err := c.pc.ReadNow(buf[:])
		if n > 0 {
			// a short read took all there was: the next await parks at
			// once (parking re-arms the poller level-triggered, so bytes
			// that come meanwhile wake it again)
			c.pre, c.preBuf, c.drained = buf[:n], buf, n < len(buf)
			return false, nil
		}
		readBufs.Put(buf)
		if err != netpoll.ErrWouldBlock {
			return false, err
		}
	}
	c.drained = false
	return c.h.poller.Park(&c.pc, c.closed.Load), nil
}

func (c *conn) serve() {
	c.h.Live.Add(1)
	c.writing.Store(true) // nothing but the welcome may go out before it
	c.pc.Init(c.nc, c)
	c.run()
}

// errPanicked ends a connection whose handling panicked: a bug, logged, that
// costs this connection and nothing else.
var errPanicked = &websocket.CloseError{Code: websocket.CloseInternal, Reason: "internal error"}

// recoverTo turns a panic into errPanicked (stored in *err) and logs it.
func (c *conn) recoverTo(err *error) {
	if r := recover(); r != nil {
		c.h.Log.Error("websocket connection panicked", "panic", r, "stack", string(debug.Stack()))
		*err = errPanicked
	}
}

// recoverFlush ends a connection whose flush panicked (recover must be
// called by the deferred function itself).
func (c *conn) recoverFlush() {
	if r := recover(); r != nil {
		c.h.Log.Error("websocket flush panicked", "panic", r, "stack", string(debug.Stack()))
		c.writing.Store(false)
		c.nc.Close() // the reader notices and finishes
	}
}

// run reads until the connection parks or ends.
func (c *conn) run() { c.runAfter(nil) }

// runAfter is run after first (if not nil): what its reader does before
// reading on, as if it had done it in its loop (answerNow hands it the
// part of an answer that has to wait).
func (c *conn) runAfter(first func() error) {
	var err error
	func() {
		defer c.recoverTo(&err)
		if first != nil {
			err = first()
		}
		if err == nil {
			err = c.readLoop()
		}
	}()
	if errors.Is(err, errParked) {
		return
	}
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		c.closeWith(ce.Code, ce.Reason, nil)
	case errors.Is(err, websocket.ErrPeerClosed), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.closeWith(websocket.ClosePolicy, "no frame within the heartbeat period", nil)
		}
	}
	c.finish()
}

// finish releases the connection, once: the socket, the poller entry, and
// the session, which starts its grace period.
func (c *conn) finish() {
	c.finishOnce.Do(func() {
		c.pc.Done()
		c.h.poller.Unpark(&c.pc)
		if c.closed.Load() && !c.peerClosed.Load() {
			// Read what the peer still sends before closing: closing with
			// unread data makes the kernel reset the connection, and the
			// peer would lose our close frame.
			c.nc.SetReadDeadline(time.Now().Add(closeTimeout))
			io.Copy(io.Discard, io.LimitReader(c.nc, 1<<20))
		}
		c.nc.Close()
		if s := c.proto.Session; s != nil {
			s.Detach(c)
		}
		c.h.Live.Add(-1)
	})
}

// Resume (netpoll.Owner) reads what woke the parked connection.
func (c *conn) Resume() { c.run() }

// Expire (netpoll.Owner) closes a parked connection that missed its
// heartbeats.
func (c *conn) Expire() {
	c.closeWith(websocket.ClosePolicy, "no frame within the heartbeat period", nil)
	c.finish()
}

func (c *conn) readLoop() error {
	ctx := context.Background()
	for {
		if c.proto.Session != nil && len(c.pre) == 0 {
			if parked, err := c.await(); err != nil {
				return err
			} else if parked {
				return errParked
			}
		}
		c.rdSet = false
		msg, err := websocket.ReadMessage(c, wire.MaxFrame, c.control)
		if err != nil {
			return err
		}
		c.pc.Touch()
		var (
			reply   []byte
			welcome bool
		)
		if f, ok := wire.DecodeHeartbeat(msg); ok && c.proto.Session != nil {
			// A heartbeat is answered right here: it needs little stack,
			// and handing it to a worker (two goroutine switches, often a
			// thread woken for them) would cost more than answering it.
			reply, err = c.proto.Handle(ctx, f)
		} else {
			c.process(func() {
				defer c.recoverTo(&err)
				if reply, welcome, err = c.handle(ctx, msg); welcome {
					// the welcome, with the snapshot and the session's own
					// presence queued meanwhile, in one write; here, on the
					// worker whose stack the encoding already grew
					c.flushFrom(reply)
				}
			})
		}
		if welcome {
			continue
		}
		if err := c.answer(reply, err); err != nil {
			return err
		}
	}
}

// answer sends the reply to a frame whose handling returned err: with a
// goodbye if the handling closes the session (then its error ends the
// reader).
func (c *conn) answer(reply []byte, err error) error {
	if errors.Is(err, wire.ErrClose) {
		c.closeWith(websocket.CloseNormal, "", reply)
		c.proto.Finish()
		return websocket.ErrPeerClosed
	}
	if reply != nil {
		return c.write(reply)
	}
	return nil
}

// process runs f, the handling of one frame, and returns when it is done.
// f goes to an idle worker if one is waiting, else runs right here on the
// connection's reader. It never waits for a worker: the workers may all be
// busy with slow requests of other connections (a store write waiting on
// the disk, a hello's token lookup), and this connection's ping or ack must
// still be answered at once. So each connection has at most one frame in
// flight (further frames wait in its socket, under TCP flow control) and
// no connection's frames queue behind another's. A reader that handled a
// frame itself may have grown its stack; on Linux it exits when the
// connection parks, so an idle connection keeps none of it.
func (c *conn) process(f func()) {
	done := make(chan struct{})
	select {
	case c.h.workq <- func() { defer close(done); f() }:
		<-done
	default:
		f()
	}
}

// handle answers one message; welcome reports a successful hello.
func (c *conn) handle(ctx context.Context, msg []byte) (reply []byte, welcome bool, err error) {
	f, err := wire.Decode(msg)
	switch {
	case err != nil:
		reply, err = c.proto.Invalid(err)
	case c.proto.Session == nil:
		reply, err = c.proto.Hello(ctx, f, c)
		welcome = c.proto.Session != nil
	default:
		reply, err = c.proto.Handle(ctx, f)
	}
	return reply, welcome, err
}

// control answers pings and close frames met between data frames.
func (c *conn) control(op byte, payload []byte) error {
	switch op {
	case websocket.OpPing:
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
		return c.send(websocket.AppendFrame(nil, websocket.OpPong, payload))
	case websocket.OpClose:
		c.peerClosed.Store(true)
		code := websocket.CloseNormal
		if len(payload) >= 2 {
			code = int(payload[0])<<8 | int(payload[1])
		}
		c.closeWith(code, "", nil)
		return websocket.ErrPeerClosed
	}
	return nil // pong
}

// extendDeadline keeps the write deadline at least half a writeTimeout
// ahead, resetting it only when needed: a reset costs a timer update, and a
// fan-out writes to every watcher. The caller holds writeMu.
func (c *conn) extendDeadline() {
	now := time.Now()
	if time.Duration(c.deadline-now.UnixNano()) < writeTimeout/2 {
		d := now.Add(writeTimeout)
		c.deadline = d.UnixNano()
		c.nc.SetWriteDeadline(d)
	}
}

// write sends one text message.
func (c *conn) write(msg []byte) error {
	buf := websocket.AppendFrame(make([]byte, 0, len(msg)+10), websocket.OpText, msg)
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.send(buf)
}

// send writes buf; the caller holds writeMu. What the socket takes at once
// needs no deadline, so a reply to an idle connection's heartbeat arms no
// timer (whose firing, 10 s later, would wake the process for nothing);
// only what it does not take waits, under the write deadline.
func (c *conn) send(buf []byte) error {
	n := c.pc.WriteNow(buf)
	if n == len(buf) {
		return nil
	}
	c.extendDeadline()
	_, err := c.nc.Write(buf[n:])
	return err
}

// Wake starts a flush goroutine unless one runs; it lives only while the
// outbox has events, so an idle session has no writer goroutine.
func (c *conn) Wake() {
	if !c.writing.CompareAndSwap(false, true) {
		return
	}
	if d := c.h.WriteDelay; d > 0 {
		if wait := time.Duration(c.lastWrite.Load() + int64(d) - time.Now().UnixNano()); wait > 0 {
			time.AfterFunc(wait, c.startFlush) // writing stays taken: later wake-ups join this write
			return
		}
	}
	c.startFlush()
}

func (c *conn) startFlush() {
	if c.direct && c.h.flusher != nil {
		c.h.flusher.add(c)
		return
	}
	select {
	case c.h.flushq <- c:
	default:
		go c.flush()
	}
}

// flushBuf is a flush's scratch space: a flusher worker's own, else
// pooled. An idle connection holds none, and a busy one neither allocates
// nor grows a buffer per write.
type flushBuf struct {
	batch  []core.Delivery
	frames []byte
}

var flushBufs = sync.Pool{New: func() any { return new(flushBuf) }}

// maxPooledFrames bounds the buffer a flush keeps for the next.
const maxPooledFrames = 256 << 10

// shrink drops what fb refers to (events) and a buffer grown too big.
func (fb *flushBuf) shrink() {
	clear(fb.batch[:cap(fb.batch)])
	fb.batch = fb.batch[:0]
	if cap(fb.frames) > maxPooledFrames {
		fb.frames = nil
	}
}

// flush writes what the session has for this connection, with a pooled
// buffer; the caller took c.writing.
func (c *conn) flush() { c.flushFrom(nil) }

// flushFrom is flush writing the message head (the welcome), if not nil,
// before the first events, in the same write.
func (c *conn) flushFrom(head []byte) {
	fb := flushBufs.Get().(*flushBuf)
	c.flushWith(fb, head)
	fb.shrink()
	flushBufs.Put(fb)
}

// flushWith is flush with fb. It returns once nothing is left to write, or
// once the socket is full: then a goroutine of the connection's own
// (finishWrite) goes on, still holding c.writing.
func (c *conn) flushWith(fb *flushBuf, head []byte) {
	defer c.recoverFlush()
	s := c.proto.Session
	for recheck := false; ; {
		// One pull and one Pending per write when the reader keeps up:
		// what came during the write is found by Pending below, which
		// must come after writing is released anyway (a Wake meanwhile
		// found it taken and left the events to us). A full batch goes
		// on pulling at once, whatever the WriteDelay.
		batch := s.PullAppend(fb.batch[:0], c, maxBatch)
		fb.batch = batch
		if len(batch) == 0 && recheck {
			// Pending said events wait, yet Pull gives us none: they are
			// not ours. This connection is no longer the session's sink
			// (a resumed connection took it, or it was detached), and
			// looping on Pending would spin until the new sink sent them
			// or the grace period ended. Its own Wake flushes them.
			c.writing.Store(false)
			return
		}
		wrote := len(batch) > 0
		if wrote || head != nil {
			ok, handed := c.writeBatch(fb, head, batch)
			clear(batch) // the events are written: keep none alive
			head = nil
			if !ok {
				c.writing.Store(false)
				return
			}
			if handed {
				return
			}
		}
		if len(batch) == maxBatch {
			recheck = false // more may wait: ours, since we just pulled
			continue
		}
		c.writing.Store(false)
		if !s.Pending() {
			return
		}
		if wrote && c.h.WriteDelay > 0 {
			c.Wake() // what came during the write waits its turn
			return
		}
		if !c.writing.CompareAndSwap(false, true) {
			return
		}
		recheck = true
	}
}

// writeBatch encodes head (if not nil) and batch into fb's buffer as
// frames and writes them at once. ok is false when the write failed (the
// connection is closed: the reader notices and detaches). handed is true
// when the socket was full: the rest of the write and of the flush went to
// a goroutine of the connection's own (finishWrite).
func (c *conn) writeBatch(fb *flushBuf, head []byte, batch []core.Delivery) (ok, handed bool) {
	buf := fb.frames[:0]
	if head != nil {
		buf = websocket.AppendFrame(buf, websocket.OpText, head)
	}
	for _, d := range batch {
		buf = websocket.AppendFrameWith(buf, websocket.OpText, func(b []byte) []byte { return wire.AppendEvent(b, d) })
	}
	fb.frames = buf
	c.writeMu.Lock()
	var err error
	if c.direct {
		// What the socket takes at once needs no deadline (as in send):
		// no clock read and no timer per write; finishWrite sets one.
		// A raw write(2) that cannot wait (netpoll.Conn.WriteNow): the
		// flush worker neither enters nor leaves a system call around it,
		// which at a write per watcher kept the runtime's monitor thread
		// waking every 20 µs to hand the worker's P to another thread.
		if n := c.pc.WriteNow(buf); n < len(buf) {
			// A slow reader, or a failed write: wait for it elsewhere
			// (where a failure shows), holding writeMu until the rest is
			// written, so that no other frame goes between.
			go c.finishWrite(append([]byte(nil), buf[n:]...))
			return true, true
		}
	} else {
		c.extendDeadline()
		_, err = c.nc.Write(buf)
	}
	c.writeMu.Unlock()
	if err != nil {
		c.nc.Close()
		return false, false
	}
	if len(batch) > 0 { // not a welcome alone
		c.wroteEvents()
	}
	return true, false
}

// finishWrite writes the rest of a batch the socket had no room for,
// waiting at most the write deadline, then goes on flushing on this
// goroutine. The caller locked writeMu for it and holds c.writing.
func (c *conn) finishWrite(rest []byte) {
	c.extendDeadline()
	_, err := c.nc.Write(rest)
	c.writeMu.Unlock()
	if err != nil {
		c.nc.Close() // the reader notices and finishes
		c.writing.Store(false)
		return
	}
	c.wroteEvents()
	c.flush()
}

// wroteEvents counts a write of events.
func (c *conn) wroteEvents() {
	if c.h.Writes != nil {
		c.h.Writes.Add(1)
	}
	if c.h.WriteDelay > 0 {
		c.lastWrite.Store(time.Now().UnixNano())
	}
}

// Close says goodbye with a goaway frame and closes; it must not block.
func (c *conn) Close(g core.Goaway) {
	code := websocket.CloseNormal
	if g.Reconnect {
		code = websocket.CloseGoingAway
	}
	go c.closeWith(code, g.Reason, wire.GoawayFrame(g))
}

// closeWith sends last (if any) and a close frame, once, then closes.
func (c *conn) closeWith(code int, reason string, last []byte) {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	c.writeMu.Lock()
	d := time.Now().Add(time.Second)
	c.deadline = d.UnixNano()
	c.nc.SetWriteDeadline(d)
	var buf []byte
	if last != nil {
		buf = websocket.AppendFrame(buf, websocket.OpText, last)
	}
	c.nc.Write(websocket.AppendFrame(buf, websocket.OpClose, websocket.ClosePayload(code, reason)))
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite() // the reader sees the peer's close or EOF, then finishes
	}
	c.writeMu.Unlock()
	if c.pc.TakeDone() {
		c.finish() // no reader goroutine will notice the close
	}
}
