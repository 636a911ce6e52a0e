package netpoll

import (
	"sync/atomic"
	"testing"
	"time"
)

// answerer is an echoer that answers on the poller's goroutine
// (AnswerNow) every other wake-up, and declines the others, leaving the
// bytes unread for its Resume, as a transport does with what is not a lone
// heartbeat.
type answerer struct {
	echoer
	wakes    atomic.Int64
	answered atomic.Int64
}

func (a *answerer) AnswerNow() bool {
	if a.wakes.Add(1)%2 == 0 {
		return false
	}
	buf := make([]byte, 64)
	n, err := a.c.ReadNow(buf)
	switch {
	case err == ErrWouldBlock:
	case err != nil:
		return false // the end of the stream: Resume meets it again
	default:
		if a.c.WriteNow(buf[:n]) != n {
			panic("a one-byte echo did not fit the socket")
		}
		a.answered.Add(1)
	}
	if !a.p.Park(a.c, never) {
		return false
	}
	return true
}

// TestNoWakeUpLostAnsweringOnThePoller: TestNoWakeUpLost's race, with the
// wake-ups answered alternately on the poller's goroutine, which parks the
// connection again itself, and by a resumed reader.
func TestNoWakeUpLostAnsweringOnThePoller(t *testing.T) {
	p := New()
	a := &answerer{echoer: echoer{p: p, ended: make(chan struct{})}}
	c, nc, peer := tcpConn(t, func() { a.Resume() }, func() {})
	c.owner = a
	a.c, a.nc = c, nc
	go a.run()
	buf := make([]byte, 64)
	for i := 0; i < 5000; i++ {
		peer.SetDeadline(time.Now().Add(30 * time.Second)) // a hang guard: a lost wake-up waits for ever
		peer.Write([]byte("x"))
		if n, err := peer.Read(buf); err != nil || n != 1 {
			t.Fatalf("round %d: %d, %v (state %d)", i, n, err, c.state.Load())
		}
	}
	if a.answered.Load() == 0 {
		t.Fatal("no wake-up was answered on the poller (the test tested nothing new)")
	}
	peer.Close()
	select {
	case <-a.ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the peer's close did not reach the echoer")
	}
	p.Unpark(c)
}

// TestDeclinedAnswerResumes: an owner that declines to answer at once is
// resumed as before, with the bytes still there.
func TestDeclinedAnswerResumes(t *testing.T) {
	p := New()
	resumed := make(chan struct{}, 1)
	c, _, peer := tcpConn(t, func() { resumed <- struct{}{} }, func() {})
	c.owner = decliner{owner{func() { resumed <- struct{}{} }, func() {}}}
	if !p.Park(c, never) {
		t.Fatal("an idle connection did not park")
	}
	peer.Write([]byte("x"))
	select {
	case <-resumed:
	case <-time.After(20 * time.Second):
		t.Fatal("not resumed")
	}
	if !c.Readable() {
		t.Fatal("the byte that woke it is gone")
	}
	p.Unpark(c)
}

type decliner struct{ owner }

func (decliner) AnswerNow() bool { return false }
