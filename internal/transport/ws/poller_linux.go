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

// park registers c, whose reader goroutine is about to exit. It reports
// false if c cannot be parked; the caller then keeps reading.
func (p *poller) park(c *conn) bool {
	if p == nil || c.fd < 0 || c.closed.Load() {
		return false
	}
	c.state.Store(stateParked)
	p.mu.Lock()
	p.parked[c.fd] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(c.fd)}
	op := syscall.EPOLL_CTL_MOD
	if !c.registered.Load() {
		op = syscall.EPOLL_CTL_ADD
	}
	err := syscall.EpollCtl(p.epfd, op, c.fd, &ev)
	if err == nil {
		c.registered.Store(true)
	}
	if err != nil || c.closed.Load() { // closing raced with parking: keep reading, and see the close
		p.unpark(c)
		c.state.CompareAndSwap(stateParked, stateRunning)
		return false
	}
	return true
}

// unpark takes c out of the set before its descriptor is closed (a closed
// descriptor's number may be reused by a new connection).
func (p *poller) unpark(c *conn) {
	if p == nil || !c.registered.Load() {
		return
	}
	p.mu.Lock()
	if p.parked[c.fd] == c {
		delete(p.parked, c.fd)
	}
	p.mu.Unlock()
	syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
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
			if c != nil && c.state.CompareAndSwap(stateParked, stateRunning) {
				go c.run()
			}
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
