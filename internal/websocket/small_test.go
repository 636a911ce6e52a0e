package websocket

import (
	"bytes"
	"strings"
	"testing"
)

func TestSmallText(t *testing.T) {
	ping := clientFrame(true, OpText, []byte(`{"type":"ping"}`))
	dst := make([]byte, MaxSmallText)
	if p, ok := SmallText(ping, dst); !ok || string(p) != `{"type":"ping"}` {
		t.Fatalf("a lone ping: %q, %v", p, ok)
	}
	for name, b := range map[string][]byte{
		"two frames":   append(append([]byte(nil), ping...), ping...),
		"partial":      ping[:len(ping)-1],
		"header only":  ping[:2],
		"fragment":     clientFrame(false, OpText, []byte("a")),
		"continuation": clientFrame(true, OpContinuation, []byte("a")),
		"ping frame":   clientFrame(true, OpPing, []byte("a")),
		"binary":       clientFrame(true, OpBinary, []byte("a")),
		"126 bytes":    clientFrame(true, OpText, []byte(strings.Repeat("a", 126))),
		"not UTF-8":    clientFrame(true, OpText, []byte{0xff}),
		"unmasked":     {0x81, 0x01, 'a'},
		"reserved bit": append([]byte{0xC1}, ping[1:]...),
	} {
		if p, ok := SmallText(b, dst); ok {
			t.Errorf("%s: taken as %q", name, p)
		}
	}
	if !bytes.Equal(ping, clientFrame(true, OpText, []byte(`{"type":"ping"}`))) {
		t.Fatal("SmallText changed its input")
	}
}

// FuzzSmallText: what SmallText takes, ReadMessage reads the same from
// the same bytes, all of them, meeting no control frame; and a single
// small final text frame that ReadMessage reads whole, SmallText takes.
func FuzzSmallText(f *testing.F) {
	f.Add(clientFrame(true, OpText, []byte(`{"type":"ping"}`)))
	f.Add(clientFrame(true, OpText, []byte(`{"type":"ack","seq":12}`)))
	f.Add(append(clientFrame(true, OpText, []byte("a")), 0x81))
	f.Add(clientFrame(true, OpPing, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		dst := make([]byte, MaxSmallText)
		p, ok := SmallText(in, dst)
		r := bytes.NewReader(in)
		controls := 0
		msg, err := ReadMessage(r, 4096, func(byte, []byte) error { controls++; return nil })
		whole := err == nil && r.Len() == 0 && controls == 0
		if ok && (!whole || !bytes.Equal(p, msg)) {
			t.Fatalf("SmallText took %q; ReadMessage: %q, %v, %d left, %d control frames", p, msg, err, r.Len(), controls)
		}
		if whole && !ok && len(in) >= 2 && in[0] == 0x81 && in[1]&0x7F <= MaxSmallText {
			t.Fatalf("ReadMessage read %q from one small frame, SmallText did not take it", msg)
		}
	})
}
