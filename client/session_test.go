package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// receive reads a presence event's header without decoding the frame, and
// gets what encoding/json would; other frames go through encoding/json.
func TestReceiveReadsHeadersAlike(t *testing.T) {
	for _, raw := range []string{
		`{"type":"presence","seq":7,"address":"bob@x","availability":"away"}`,
		`{"type":"presence","seq":18446744073709551615}`,
		`{"type":"presence","seq":12,"address":"a","sessions":[{"id":"nested"}]}`,
		`{"type":"presence","id":"p1"}`,
		`{"type":"ok","id":"r1","seq":3}`,
		`{"type":"message","seq":4,"id":"m","body":"{\"type\":\"presence\",\"seq\":9}"}`,
	} {
		s := newSession(nil)
		s.receive([]byte(raw))
		var want struct {
			Type, ID string
			Seq      uint64
		}
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatal(err)
		}
		if len(s.queue) != 1 {
			t.Fatalf("%s: %d frames queued", raw, len(s.queue))
		}
		if f := s.queue[0]; f.Type != want.Type || f.ID != want.ID || f.Seq != want.Seq || string(f.Raw) != raw {
			t.Fatalf("%s: got %q %q %d, want %+v", raw, f.Type, f.ID, f.Seq, want)
		}
	}
	for _, raw := range []string{`{"type":"presence","seq":}`, `{"type":"presence","seq":99999999999999999999999,"a":1}`} {
		if _, ok := presenceHeader([]byte(raw)); ok {
			t.Fatalf("%s: taken as a presence header", raw)
		}
	}
}

// OnEvent gets the events queued before it, then each event as it
// arrives, in order and once; replies still reach their requests, and
// OnEvent(nil) queues events for Next again.
func TestOnEventTakesEventsInOrder(t *testing.T) {
	s := newSession(nil)
	s.receive([]byte(`{"type":"presence","seq":1,"address":"a"}`))
	s.receive([]byte(`{"type":"subscription","seq":2}`))
	var got []string
	s.OnEvent(func(f Frame) { got = append(got, f.Type+":"+itoa(f.Seq)+":"+string(f.Raw)) })
	buf := []byte(`{"type":"presence","seq":3,"address":"b"}`)
	s.receive(buf)
	copy(buf, `{"type":"presence","seq":2,"address":"c"}`) // the reader reuses its buffer; a repeat is dropped
	s.receive(buf)
	reply := make(chan Frame, 1)
	s.waiting["c1"] = reply
	s.receive([]byte(`{"type":"ok","id":"c1"}`))
	s.receive([]byte(`{"type":"goaway","reason":"x"}`))
	want := []string{
		`presence:1:{"type":"presence","seq":1,"address":"a"}`,
		`subscription:2:{"type":"subscription","seq":2}`,
		`presence:3:{"type":"presence","seq":3,"address":"b"}`,
		`goaway:0:{"type":"goaway","reason":"x"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("handler got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if f := <-reply; f.Type != "ok" || string(f.Raw) != `{"type":"ok","id":"c1"}` {
		t.Fatalf("reply: %+v", f)
	}
	if len(s.queue) != 0 {
		t.Fatalf("%d frames queued while a handler takes them", len(s.queue))
	}
	s.OnEvent(nil)
	s.receive([]byte(`{"type":"presence","seq":4,"address":"d"}`))
	f, err := s.NextRaw(context.Background())
	if err != nil || f.Seq != 4 || len(got) != len(want) {
		t.Fatalf("after OnEvent(nil): %+v %v, handler called %d times", f, err, len(got))
	}
}

// readMessage reads each message whole into the buffer it is given,
// growing it as needed, whatever the previous message left in it.
func TestReadMessageReusesItsBuffer(t *testing.T) {
	sizes := []int{10, 600, 3, maxKeptBuffer + 1000, 200, 0, 5000}
	msg := func(i, n int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, n) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for i, n := range sizes {
			if c.WriteMessage(websocket.TextMessage, msg(i, n)) != nil {
				return
			}
		}
		c.ReadMessage() // until the client closes
	}))
	defer srv.Close()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var buf []byte
	for i, n := range sizes {
		raw, err := readMessage(conn, buf[:0])
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(raw, msg(i, n)) {
			t.Fatalf("message %d: %d bytes, want %d of %q", i, len(raw), n, string(rune('a'+i)))
		}
		if cap(raw) <= maxKeptBuffer {
			buf = raw
		}
	}
}
