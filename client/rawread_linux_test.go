//go:build linux && !race

package client

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestRawReadsReadWaitTimeOutAndEnd: a connection with raw reads reads
// what arrives, waits for what has not, honours its read deadline, and
// ends in io.EOF when the peer closes. (Race-detector builds, which CI
// runs, read through net.Conn instead: this runs under plain go test.)
func TestRawReadsReadWaitTimeOutAndEnd(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := rawReads(nc)
	if _, ok := c.(*rawReadConn); !ok {
		t.Fatalf("rawReads gave %T for a TCP connection", c)
	}
	defer c.Close()
	peer := <-accepted
	if peer == nil {
		t.FailNow()
	}
	defer peer.Close()

	// Nothing sent yet: the read waits, and its deadline ends the wait.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 16)
	if n, err := c.Read(buf); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing sent = %d, %v; want a deadline error", n, err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) // only a hang guard from here

	// Sent while the read waits: it wakes with the bytes.
	go func() {
		time.Sleep(20 * time.Millisecond)
		peer.Write([]byte("hello"))
	}()
	if n, err := io.ReadFull(c, buf[:5]); n != 5 || err != nil || string(buf[:5]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if n, err := c.Read(buf[:0]); n != 0 || err != nil {
		t.Fatalf("an empty read = %d, %v", n, err)
	}

	// The peer closes: what it sent before comes first, then io.EOF.
	peer.Write([]byte("bye"))
	peer.Close()
	got, err := io.ReadAll(c)
	if string(got) != "bye" || err != nil {
		t.Fatalf("after the peer closed: read %q, %v", got, err)
	}
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read after the end = %d, %v; want io.EOF", n, err)
	}
}
