package client

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ackEvery is how many events arrive between acknowledgements (the server
// keeps 256 unacknowledged events; the keepalive acks the rest).
const ackEvery = 64

// Protocol is the WebSocket subprotocol of the JSON protocol.
const Protocol = "presenced.v1"

// Connect opens a live session over WebSocket. The token travels in the
// upgrade's Authorization header, never in the URL.
func (c *Client) Connect(ctx context.Context, o ConnectOptions) (*Session, error) {
	t := &wsTransport{c: c}
	s := newSession(t)
	t.s = s
	w, err := t.open(ctx, hello("", o, nil))
	if err != nil {
		return nil, err
	}
	s.Welcome, s.Resource = w, w.Session
	var full struct{ Address string }
	_ = jsonUnmarshal(w.Raw, &full)
	s.Address = full.Address
	return s, nil
}

type wsTransport struct {
	c    *Client
	s    *Session
	mu   sync.Mutex // guards conn and writes
	conn *websocket.Conn
	stop chan struct{}
}

// A connection's buffers: reading goes through a small buffer of its own
// (a larger message is read past it, not limited by it), and writing
// borrows a pooled buffer only while a message is written, so that a
// session that waits for events holds 1 KiB instead of gorilla's two 4
// KiB buffers. In a perf profile of a reconnect storm (15,000 sessions),
// the load generator's kernel zeroing fresh pages for them was 9 % of
// all the samples (docs/benchmarks.md).
const readBufferSize = 1024

var writeBuffers sync.Pool

// open dials, says hello (or resumes) and starts reading.
func (t *wsTransport) open(ctx context.Context, helloFrame []byte) (Frame, error) {
	u := "ws" + strings.TrimPrefix(t.c.BaseURL, "http") + "/v1/ws"
	h := http.Header{}
	h.Set("Authorization", "Bearer "+t.c.Token)
	d := websocket.Dialer{Subprotocols: []string{Protocol}, HandshakeTimeout: 10 * time.Second, NetDialContext: t.c.Dial,
		ReadBufferSize: readBufferSize, WriteBufferPool: &writeBuffers}
	conn, resp, err := d.DialContext(ctx, u, h)
	if err != nil {
		if resp != nil {
			return Frame{}, &Error{Status: resp.StatusCode, Code: "handshake", Message: err.Error()}
		}
		return Frame{}, err
	}
	conn.SetReadLimit(1 << 20)
	if err := conn.WriteMessage(websocket.TextMessage, helloFrame); err != nil {
		conn.Close()
		return Frame{}, err
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, raw, err := conn.ReadMessage()
	if err != nil {
		conn.Close()
		return Frame{}, err
	}
	w, err := welcome(raw)
	w.Raw = raw
	if err != nil {
		conn.Close()
		return w, err
	}
	conn.SetReadDeadline(time.Time{})
	t.mu.Lock()
	t.conn, t.stop = conn, make(chan struct{})
	t.mu.Unlock()
	go t.read(conn)
	go t.keepalive(conn, t.stop, time.Duration(w.Heartbeat)*time.Second)
	return w, nil
}

// maxKeptBuffer bounds the read buffer kept between messages: a big frame
// (a snapshot) gets a buffer of its own, dropped after it.
const maxKeptBuffer = 64 << 10

// read hands each message to the session, reading it into one buffer
// reused from message to message (receive copies what it keeps).
func (t *wsTransport) read(conn *websocket.Conn) {
	acked := uint64(0)
	var buf []byte
	for {
		raw, err := readMessage(conn, buf[:0])
		if err != nil {
			conn.Close()
			return
		}
		t.s.receive(raw)
		if cap(raw) <= maxKeptBuffer {
			buf = raw
		}
		if seq := t.s.LastSeq(); seq-acked >= ackEvery {
			acked = seq
			t.send(context.Background(), []byte(`{"type":"ack","seq":`+itoa(seq)+`}`))
		}
	}
}

// readMessage appends the next message to buf; the connection's read limit
// bounds it.
func readMessage(conn *websocket.Conn, buf []byte) ([]byte, error) {
	_, r, err := conn.NextReader()
	if err != nil {
		return nil, err
	}
	if cap(buf) == 0 {
		buf = make([]byte, 0, 512)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// keepalive sends one frame per heartbeat period (the server allows three
// silent periods): an ack if events arrived since the last one, else a ping.
func (t *wsTransport) keepalive(conn *websocket.Conn, stop chan struct{}, every time.Duration) {
	if every <= 0 {
		every = 30 * time.Second
	}
	tk := time.NewTicker(every)
	defer tk.Stop()
	acked := uint64(0)
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			if seq := t.s.LastSeq(); seq != acked {
				acked = seq
				t.send(context.Background(), []byte(`{"type":"ack","seq":`+itoa(seq)+`}`))
			} else {
				t.send(context.Background(), []byte(`{"type":"ping"}`))
			}
		}
	}
}

func (t *wsTransport) send(ctx context.Context, frame []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return &Error{Code: "closed", Message: "connection closed"}
	}
	t.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return t.conn.WriteMessage(websocket.TextMessage, frame)
}

func (t *wsTransport) close(graceful bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return
	}
	if graceful {
		t.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	}
	t.conn.Close()
	close(t.stop)
	t.conn = nil
}

func (t *wsTransport) resume(ctx context.Context, session string, seq uint64) error {
	t.close(false)
	_, err := t.open(ctx, hello("", ConnectOptions{}, &resumeInfo{session, seq}))
	return err
}
