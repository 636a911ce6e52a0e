package netpoll

import (
	"sync"
	"syscall"
	"time"
)

// Poller is an epoll set of parked connections. Registration is one-shot
// and level-triggered: re-arming a connection that already has bytes
// waiting reports it at once, so no wake-up is lost between the last read
// and parking.
type Poller struct {
	epfd   int
	mu     sync.Mutex
	parked map[int]*Conn
}

// New starts a poller; nil if epoll is not available (every connection
// then keeps its reader).
func New() *Poller {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	p := &Poller{epfd: fd, parked: map[int]*Conn{}}
	go p.loop()
	return p
}

// parkHook, when set (by tests only), runs while Park registers c, between
// announcing the parking and publishing it as parked.
var parkHook func(c *Conn)

// Park registers c, whose reader goroutine is about to exit. It reports
// false if c cannot be parked; the caller then keeps reading. closed tells
// whether the connection was closed meanwhile (by a goaway sent from
// another goroutine, which could not take it while it was parking).
//
// The registration happens in the parking state, which only the reader
// leaves: a concurrent close cannot take the connection and close its
// descriptor while it is being added to the set and the map. An event
// arriving before c is published as parked turns it to woken, and the
// reader keeps reading.
func (p *Poller) Park(c *Conn, closed func() bool) bool {
	if p == nil || c.owner == nil || c.fd < 0 || closed() {
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
		// not registered, or the poller already saw bytes (woken): the
		// reader keeps the connection and reads
		p.Unpark(c)
		c.state.Store(stateRunning)
		return false
	}
	// Published: from here on a close, the sweep or the poller may take c.
	// A close that came while parking did not (the state was parking); take
	// c back to see it through, unless someone else already took it.
	if closed() && c.Take() {
		p.Unpark(c)
		return false
	}
	return true
}

// Unpark takes c out of the set and the map, before its descriptor is
// closed. Only the connection's owner calls it, so its descriptor is still
// open.
func (p *Poller) Unpark(c *Conn) {
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

// Parked counts the connections waiting in the poller.
func (p *Poller) Parked() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

func (p *Poller) loop() {
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
func (p *Poller) wake(c *Conn) {
	for {
		switch c.state.Load() {
		case stateParked:
			if c.Take() {
				go c.owner.Resume()
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

// Sweep ends the parked connections silent for longer than timeout: the
// check a blocked reader's read deadline would otherwise make.
func (p *Poller) Sweep(timeout time.Duration) {
	if p == nil {
		return
	}
	now := time.Now().UnixNano()
	var stale []*Conn
	p.mu.Lock()
	for _, c := range p.parked {
		if now-c.lastRead.Load() > int64(timeout) {
			stale = append(stale, c)
		}
	}
	p.mu.Unlock()
	for _, c := range stale {
		if c.Take() {
			go c.owner.Expire()
		}
	}
}

// Readable reports whether bytes (or the end of the stream) wait on c's
// socket; true when it cannot tell.
func (c *Conn) Readable() bool {
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
