package ws

import (
	"sync"
	"syscall"
	"time"
)

// poller parks idle connections in an epoll set, so an idle session has no
// goroutine (and no stack) at all; when bytes arrive, or the peer hangs up,
// a goroutine is started to read them. Registration is one-shot and
// level-triggered: re-arming a connection that already has data reports it
// at once, so no wake-up is lost between the last read and parking.
type poller struct {
	epfd   int
	mu     sync.Mutex
	parked map[int]*conn
}

func newPoller() *poller {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil // fall back to one blocked reader per connection
	}
	p := &poller{epfd: fd, parked: map[int]*conn{}}
	go p.loop()
	return p
}

// parkHook, when set (by tests only), runs while park registers c, between
// announcing the parking and publishing it as parked.
var parkHook func(c *conn)

// park registers c, whose reader goroutine is about to exit. It reports
// false if c cannot be parked; the caller then keeps reading.
//
// The registration happens in stateParking, which only the reader leaves:
// a concurrent close (closeWith) cannot take the connection and close its
// descriptor while c.fd is being added to the set and the map — it would
// otherwise have been possible to register, or delete from the set, a
// descriptor number already reused by another connection, evicting that
// one from the poller for good. An event arriving before c is published as
// parked turns it to stateWoken, and the reader keeps reading.
func (p *poller) park(c *conn) bool {
	if p == nil || c.fd < 0 || c.closed.Load() {
		return false
	}
	c.state.Store(stateParking)
	p.mu.Lock()
	p.parked[c.fd] = c
	p.mu.Unlock()
	if parkHook != nil {
		parkHook(c)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(c.fd)}
	op := syscall.EPOLL_CTL_MOD
	if !c.registered.Load() {
		op = syscall.EPOLL_CTL_ADD
	}
	err := syscall.EpollCtl(p.epfd, op, c.fd, &ev)
	if err == nil {
		c.registered.Store(true)
	}
	if err != nil || !c.state.CompareAndSwap(stateParking, stateParked) {
		// not registered, or the poller already saw bytes (stateWoken):
		// the reader keeps the connection and reads
		p.unpark(c)
		c.state.Store(stateRunning)
		return false
	}
	// Published: from here on a close, the sweep or the poller may take c.
	// A close that came while parking did not (the state was parking); take
	// c back to see it through, unless someone else already took it.
	if c.closed.Load() && c.state.CompareAndSwap(stateParked, stateRunning) {
		p.unpark(c)
		return false
	}
	return true
}

// unpark takes c out of the set and the map, before its descriptor is
// closed (a closed descriptor's number may be reused by a new connection).
// Only the connection's owner calls it, so its descriptor is still open.
func (p *poller) unpark(c *conn) {
	if p == nil || c.fd < 0 {
		return
	}
	p.mu.Lock()
	if p.parked[c.fd] == c {
		delete(p.parked, c.fd)
	}
	p.mu.Unlock()
	if c.registered.Load() {
		syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
		c.registered.Store(false) // a later park adds it again
	}
}

func (p *poller) loop() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			c := p.parked[int(ev.Fd)]
			delete(p.parked, int(ev.Fd))
			p.mu.Unlock()
			if c != nil {
				p.wake(c)
			}
		}
	}
}

// wake hands a connection with bytes waiting to a reader: a new goroutine
// if it is parked, its own reader if that one is still parking.
func (p *poller) wake(c *conn) {
	for {
		switch c.state.Load() {
		case stateParked:
			if c.state.CompareAndSwap(stateParked, stateRunning) {
				go c.run()
				return
			}
		case stateParking:
			if c.state.CompareAndSwap(stateParking, stateWoken) {
				return
			}
		default: // running or done: its owner reads or closes it
			return
		}
	}
}

// sweep closes parked connections silent for longer than timeout: the
// heartbeat check a blocked reader's read deadline would otherwise make.
func (p *poller) sweep(timeout time.Duration) {
	if p == nil {
		return
	}
	now := time.Now().UnixNano()
	var stale []*conn
	p.mu.Lock()
	for _, c := range p.parked {
		if now-c.lastRead.Load() > int64(timeout) {
			stale = append(stale, c)
		}
	}
	p.mu.Unlock()
	for _, c := range stale {
		c.expire()
	}
}

// readable reports whether bytes (or end of stream) wait on c's socket.
func (c *conn) readable() bool {
	if c.rc == nil {
		return true
	}
	var err error
	c.rc.Control(func(fd uintptr) {
		var b [1]byte
		_, _, err = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}
