package websocket

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// clientFrame builds a masked client frame.
func clientFrame(fin bool, op byte, payload []byte) []byte {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	n := len(payload)
	switch {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	mask := [4]byte{1, 2, 3, 4}
	b = append(b, mask[:]...)
	p := append([]byte(nil), payload...)
	unmask(p, mask)
	return append(b, p...)
}

func read(t *testing.T, in []byte) ([]byte, []byte, error) {
	t.Helper()
	var pongs []byte
	msg, err := ReadMessage(bytes.NewReader(in), 1000, func(op byte, p []byte) error {
		if op == OpPing {
			pongs = append(pongs, p...)
		}
		if op == OpClose {
			return ErrPeerClosed
		}
		return nil
	})
	return msg, pongs, err
}

func TestReadMessage(t *testing.T) {
	in := append(clientFrame(false, OpText, []byte(`{"type":`)), clientFrame(true, OpPing, []byte("hi"))...)
	in = append(in, clientFrame(true, OpContinuation, []byte(`"ping"}`))...)
	msg, pongs, err := read(t, in)
	if err != nil || string(msg) != `{"type":"ping"}` || string(pongs) != "hi" {
		t.Fatalf("%q %q %v", msg, pongs, err)
	}
	big := bytes.Repeat([]byte("x"), 300)
	if msg, _, err := read(t, clientFrame(true, OpText, big)); err != nil || len(msg) != 300 {
		t.Fatalf("16-bit length: %d %v", len(msg), err)
	}
}

func TestReadMessageErrors(t *testing.T) {
	unmasked := []byte{0x81, 0x02, 'h', 'i'}
	for name, tc := range map[string]struct {
		in   []byte
		code int
	}{
		"unmasked":           {unmasked, CloseProtocolError},
		"binary":             {clientFrame(true, OpBinary, []byte("x")), CloseUnsupported},
		"reserved bits":      {append([]byte{0xC1}, clientFrame(true, OpText, nil)[1:]...), CloseProtocolError},
		"unknown opcode":     {clientFrame(true, 0x3, nil), CloseProtocolError},
		"bad utf8":           {clientFrame(true, OpText, []byte{0xff}), CloseInvalidData},
		"too big":            {clientFrame(true, OpText, bytes.Repeat([]byte("x"), 1001)), CloseTooBig},
		"huge length":        {[]byte{0x81, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4}, CloseTooBig},
		"stray continuation": {clientFrame(true, OpContinuation, []byte("x")), CloseProtocolError},
		"fragmented ping":    {clientFrame(false, OpPing, nil), CloseProtocolError},
		"nested message":     {append(clientFrame(false, OpText, []byte("a")), clientFrame(true, OpText, []byte("b"))...), CloseProtocolError},
	} {
		_, _, err := read(t, tc.in)
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != tc.code {
			t.Errorf("%s: %v, want close %d", name, err, tc.code)
		}
	}
	if _, _, err := read(t, clientFrame(true, OpClose, []byte{3, 232})); !errors.Is(err, ErrPeerClosed) {
		t.Errorf("close frame: %v", err)
	}
	if _, _, err := read(t, []byte{0x81}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v", err)
	}
}

func TestAppendFrameLengths(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		f := AppendFrame(nil, OpText, bytes.Repeat([]byte("a"), n))
		hdr := map[bool]int{true: 2}[n <= 125] + map[bool]int{true: 4}[n > 125 && n <= 65535] + map[bool]int{true: 10}[n > 65535]
		if len(f) != n+hdr || f[0] != 0x81 {
			t.Errorf("n=%d: frame of %d bytes, header %x", n, len(f), f[:2])
		}
	}
	if p := ClosePayload(1000, strings.Repeat("é", 100)); len(p) > 125 {
		t.Fatalf("close payload %d bytes", len(p))
	}
}

func FuzzReadMessage(f *testing.F) {
	f.Add(clientFrame(true, OpText, []byte(`{"type":"ping"}`)))
	f.Add(append(clientFrame(false, OpText, []byte("a")), clientFrame(true, OpContinuation, []byte("b"))...))
	f.Fuzz(func(t *testing.T, in []byte) {
		msg, err := ReadMessage(bytes.NewReader(in), 4096, func(byte, []byte) error { return nil })
		if err == nil && len(msg) > 4096 {
			t.Fatalf("message of %d bytes beyond the limit", len(msg))
		}
	})
}

func TestAppendFrameWithMatchesAppendFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 200, 0xFFFF, 0x10000, 70000} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		prefix := []byte("earlier frames")
		want := AppendFrame(append([]byte(nil), prefix...), OpText, payload)
		got := AppendFrameWith(append([]byte(nil), prefix...), OpText, func(b []byte) []byte { return append(b, payload...) })
		if !bytes.Equal(got, want) {
			t.Fatalf("payload of %d bytes: frames differ (len %d, want %d)", n, len(got), len(want))
		}
	}
}
