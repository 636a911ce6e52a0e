package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The load generator's client is the same for both servers: one
// gorilla/websocket connection, one reader goroutine, frames written as
// prepared bytes and read by scanning for the few fields it needs (no JSON
// decoding on either side), so neither server's figures include a heavier
// client than the other's. Only what each protocol requires differs:
//
//   - presenced (docs/protocol.md): the client sends a heartbeat (an ack of
//     the events it got, else a ping) every heartbeat period, and acks every
//     64 events, as the Go client does;
//   - Centrifugo (its JSON protocol): the server sends an empty ping `{}`
//     every ping_interval, the client answers an empty pong `{}`; replies may
//     come several to a frame, one per line.
//
// centrifuge-go, Centrifugo's own Go client, is not used: it keeps more per
// connection (goroutines, queues, timers) than this reader does, so the
// load generator would compete harder for the shared cores on one side.

// proto is what differs between the two servers' wire protocols.
type proto int

const (
	protoPresenced proto = iota
	protoCentrifugo
)

// session is one WebSocket connection of the load generator.
type session struct {
	proto proto
	conn  *websocket.Conn
	wmu   sync.Mutex // serialises writes: the reader (acks, pongs) and the heartbeat

	// presenced: the last event's seq and the last acked, touched by the
	// reader and the heartbeat under wmu.
	seq, acked uint64
	hb         *time.Timer
	hbEvery    time.Duration

	// pubMark finds the publisher's frames: presenced's address field, or
	// Centrifugo's channel; empty for a session that watches nothing.
	pubMark []byte
	watch   *watchState
	// replies carries the ids of the replies a closed-loop publisher awaits.
	replies chan string
	done    chan struct{}
}

var dialer = websocket.Dialer{HandshakeTimeout: 10 * time.Second}

// role is what a session does besides idling, set before its reader starts.
type role struct {
	pubMark []byte // a watcher: how the publisher's frames are told
	replies bool   // the publisher: closed-loop sends await replies
}

func (s *session) start(r role) {
	s.pubMark = r.pubMark
	if r.pubMark != nil {
		s.watch = &watchState{}
	}
	if r.replies {
		s.replies = make(chan string, 1024)
	}
	s.done = make(chan struct{})
	go s.read()
}

// dialPresenced opens a presenced session: hello with the token in the
// first frame (never in the URL), welcome read before returning.
func dialPresenced(ctx context.Context, baseURL, token string, available bool, heartbeat time.Duration, r role) (*session, error) {
	d := dialer
	d.Subprotocols = []string{"presenced.v1"}
	conn, _, err := d.DialContext(ctx, "ws"+baseURL[len("http"):]+"/v1/ws", nil)
	if err != nil {
		return nil, err
	}
	hello := `{"type":"hello","id":"h","token":"` + token + `","device":"bench"`
	if available {
		hello += `,"presence":{"availability":"available"}`
	}
	s := &session{proto: protoPresenced, conn: conn, hbEvery: heartbeat}
	if err := s.handshake([]byte(hello+"}"), []byte(`"type":"welcome"`)); err != nil {
		return nil, err
	}
	s.start(r)
	s.wmu.Lock()
	s.hb = time.AfterFunc(heartbeat, s.heartbeat)
	s.wmu.Unlock()
	return s, nil
}

// dialCentrifugo opens a Centrifugo connection (connect with a JWT), and
// subscribes it to channel when one is given.
func dialCentrifugo(ctx context.Context, baseURL, token, channel string, r role) (*session, error) {
	conn, _, err := dialer.DialContext(ctx, "ws"+baseURL[len("http"):]+"/connection/websocket", http.Header{})
	if err != nil {
		return nil, err
	}
	s := &session{proto: protoCentrifugo, conn: conn}
	if err := s.handshake([]byte(`{"id":1,"connect":{"token":"`+token+`","name":"bench"}}`), []byte(`"id":1,"connect"`)); err != nil {
		return nil, err
	}
	if channel != "" {
		if err := s.handshake([]byte(`{"id":2,"subscribe":{"channel":"`+channel+`"}}`), []byte(`"id":2,"subscribe"`)); err != nil {
			return nil, err
		}
	}
	s.start(r)
	return s, nil
}

// handshake writes req and reads until a frame holding want (10 s at most);
// a frame holding an error instead fails.
func (s *session) handshake(req, want []byte) error {
	s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := s.conn.WriteMessage(websocket.TextMessage, req); err != nil {
		s.conn.Close()
		return err
	}
	for {
		_, raw, err := s.conn.ReadMessage()
		if err != nil {
			s.conn.Close()
			return err
		}
		if bytes.Contains(raw, want) {
			s.conn.SetReadDeadline(time.Time{})
			return nil
		}
		if bytes.Contains(raw, []byte(`"error"`)) {
			s.conn.Close()
			return fmt.Errorf("refused: %s", raw)
		}
	}
}

func (s *session) write(frame []byte) {
	s.wmu.Lock()
	s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	s.conn.WriteMessage(websocket.TextMessage, frame)
	s.wmu.Unlock()
}

// heartbeat is presenced's client keepalive: an ack if events came since
// the last one, else a ping; then the next one is armed.
func (s *session) heartbeat() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.hb == nil {
		return // closed
	}
	frame := []byte(`{"type":"ping"}`)
	if s.seq != s.acked {
		s.acked = s.seq
		frame = []byte(`{"type":"ack","seq":` + strconv.FormatUint(s.seq, 10) + `}`)
	}
	s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	s.conn.WriteMessage(websocket.TextMessage, frame)
	s.hb.Reset(s.hbEvery)
}

func (s *session) read() {
	defer close(s.done)
	for {
		_, raw, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		if s.proto == protoPresenced {
			s.presencedFrame(raw)
			continue
		}
		for len(raw) > 0 {
			var line []byte
			line, raw, _ = bytes.Cut(raw, []byte("\n"))
			s.centrifugoLine(line)
		}
	}
}

// ackEvery is how many presenced events pass between acks (the server
// keeps 256 unacknowledged), as in the Go client.
const ackEvery = 64

func (s *session) presencedFrame(raw []byte) {
	if seq, ok := intField(raw, `"seq":`); ok {
		s.wmu.Lock()
		s.seq = uint64(seq)
		if s.seq-s.acked >= ackEvery {
			s.acked = s.seq
			s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			s.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ack","seq":`+strconv.FormatUint(s.seq, 10)+`}`))
		}
		s.wmu.Unlock()
		if s.watch != nil && bytes.Contains(raw, s.pubMark) {
			if tag, n, ok := update(raw, `"status":"`); ok {
				s.watch.saw(tag, n, time.Now())
			}
		}
		return
	}
	if s.replies != nil {
		if id, ok := strField(raw, `"id":"`); ok {
			select {
			case s.replies <- id:
			default:
			}
		}
	}
}

func (s *session) centrifugoLine(line []byte) {
	if len(line) == 2 && line[0] == '{' && line[1] == '}' {
		s.write([]byte(`{}`)) // pong
		return
	}
	if s.watch != nil && bytes.Contains(line, s.pubMark) {
		if tag, n, ok := update(line, `"s":"`); ok {
			s.watch.saw(tag, n, time.Now())
		}
	}
}

// close ends the connection (a plain drop for both servers) and waits for
// its reader.
func (s *session) close() {
	s.wmu.Lock()
	if s.hb != nil {
		s.hb.Stop()
		s.hb = nil
	}
	s.wmu.Unlock()
	s.conn.Close()
	<-s.done
}

// update reads "<tag>:<n>" from the string field that follows key.
func update(raw []byte, key string) (tag string, n int, ok bool) {
	v, ok := strField(raw, key)
	if !ok {
		return "", 0, false
	}
	tag, num, ok := strings.Cut(v, ":")
	if !ok {
		return "", 0, false
	}
	n, err := strconv.Atoi(num)
	return tag, n, err == nil
}

// strField is the string value after key (which ends with its opening quote).
func strField(raw []byte, key string) (string, bool) {
	_, rest, ok := bytes.Cut(raw, []byte(key))
	if !ok {
		return "", false
	}
	v, _, ok := bytes.Cut(rest, []byte(`"`))
	return string(v), ok
}

// intField is the unsigned integer after key.
func intField(raw []byte, key string) (int64, bool) {
	_, rest, ok := bytes.Cut(raw, []byte(key))
	if !ok {
		return 0, false
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return n, err == nil
}
