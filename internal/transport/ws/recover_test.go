package ws

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"testing"
)

// TestPanicsStayInTheirConnection: a panic while handling or flushing is
// logged and closes that connection instead of the process.
func TestPanicsStayInTheirConnection(t *testing.T) {
	var logged bytes.Buffer
	server, peer := net.Pipe()
	defer peer.Close()
	c := &conn{h: &Handler{Log: slog.New(slog.NewTextHandler(&logged, nil))}, nc: server}

	var err error
	func() {
		defer c.recoverTo(&err)
		panic("boom")
	}()
	if !errors.Is(err, errPanicked) || !bytes.Contains(logged.Bytes(), []byte("boom")) {
		t.Fatalf("handling panic: err %v, log %q", err, logged.String())
	}

	c.writing.Store(true)
	func() {
		defer c.recoverFlush()
		panic("bang")
	}()
	if c.writing.Load() || !bytes.Contains(logged.Bytes(), []byte("bang")) {
		t.Fatal("flush panic not recovered")
	}
	if _, err := server.Write([]byte("x")); err == nil {
		t.Fatal("a connection whose flush panicked must be closed")
	}
}
