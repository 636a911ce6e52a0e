package netpoll

import (
	"io"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Poller is an epoll set of parked connections. A connection is
// registered when it first parks and stays registered, edge-triggered,
// until its owner unparks it before closing: parking again then costs no
// system call (a one-shot registration had to be re-armed by epoll_ctl at
// every park). The price is that bytes arriving while the reader runs are
// reported too; the poller counts those events, and a reader that parks
// after one looks at its socket before it leaves (Park).
type Poller struct {
	epfd  int
	ep    *os.File // epfd, when the Go runtime's own poller waits on it (loop)
	mu    sync.Mutex
	conns map[int]*Conn // the registered connections, by descriptor
	// resumeq hands woken connections to idle resumers (see resume).
	resumeq chan *Conn
}

// epollET is syscall.EPOLLET as the uint32 of an EpollEvent.
const epollET = 1 << 31

// resumers is how many long-lived goroutines resume woken connections.
const resumers = 8

// New starts a poller; nil if epoll is not available (every connection
// then keeps its reader).
func New() *Poller {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	p := &Poller{epfd: fd, conns: map[int]*Conn{}, resumeq: make(chan *Conn)}
	for i := 0; i < resumers; i++ {
		go func() {
			for c := range p.resumeq {
				c.owner.Resume()
			}
		}()
	}
	// The set's own descriptor is readable while events wait in it: handed
	// to the runtime's poller (as an os.File in non-blocking mode), it is
	// waited on together with every socket of the process.
	if syscall.SetNonblock(fd, true) == nil {
		p.ep = os.NewFile(uintptr(fd), "netpoll")
	}
	go p.loop()
	return p
}

// parkHook, when set (by tests only), runs while Park registers c, between
// announcing the parking and publishing it as parked.
var parkHook func(c *Conn)

// Park leaves c in the poller, its reader goroutine about to exit. It
// reports false if c cannot be parked (or bytes wait on it); the caller
// then keeps reading. closed tells whether the connection was closed
// meanwhile (by a goaway sent from another goroutine, which could not take
// it while it was parking).
//
// The registration happens in the parking state, which only the reader
// leaves: a concurrent close cannot take the connection and close its
// descriptor while it is being added to the set and the map. Bytes that
// arrive before c is published as parked are not lost: their event either
// came while the reader ran (the count differs from what the reader has
// seen, and a look at the socket tells whether they are still unread) or
// comes while it parks (it turns c to woken, and Park looks again).
func (p *Poller) Park(c *Conn, closed func() bool) bool {
	if p == nil || c.owner == nil || c.fd < 0 || closed() {
		return false
	}
	c.state.Store(stateParking)
	if !c.registered.Load() {
		p.mu.Lock()
		p.conns[c.fd] = c
		p.mu.Unlock()
		// Registering reports bytes that already wait, as an event.
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: int32(c.fd)}
		if syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev) != nil {
			p.Unpark(c) // the map entry
			c.state.Store(stateRunning)
			return false
		}
		c.registered.Store(true)
	}
	if parkHook != nil {
		parkHook(c)
	}
	for {
		if n := c.events.Load(); n != c.seen {
			// events came while the reader ran: bytes its last read
			// did not see may wait
			c.seen = n
			if c.Readable() {
				c.state.Store(stateRunning)
				return false
			}
		}
		if c.state.CompareAndSwap(stateParking, stateParked) {
			break
		}
		c.state.Store(stateParking) // woken meanwhile: look again
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
	if p.conns[c.fd] == c {
		delete(p.conns, c.fd)
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
	n := 0
	for _, c := range p.conns {
		if c.state.Load() == stateParked {
			n++
		}
	}
	return n
}

// loop hands the connections that bytes woke to new readers. It waits
// through the Go runtime's poller when it can: the thread that waits for
// the sockets then also learns of this set's events, in the same
// epoll_wait, instead of a second thread blocked in epoll_wait of its own,
// which every wake-up of a parked connection woke as well (issue 9: idle
// CPU per heartbeat).
func (p *Poller) loop() {
	events := make([]syscall.EpollEvent, 256)
	if p.ep != nil {
		if rc, err := p.ep.SyscallConn(); err == nil {
			p.loopRuntime(rc, events)
		}
	}
	for { // blocking: the runtime could not poll the set
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return
		}
		p.dispatch(events[:n])
	}
}

// loopRuntime takes the set's events without waiting, and waits in the
// runtime's poller when there are none. It returns if the runtime cannot
// wait on the set (the caller then blocks in epoll_wait).
func (p *Poller) loopRuntime(rc syscall.RawConn, events []syscall.EpollEvent) {
	for {
		var n int
		// Always take once more before waiting, although the last take
		// emptied the set: waiting at once lost wake-ups (the stress test
		// TestNoWakeUpLost found it).
		err := rc.Read(func(fd uintptr) bool {
			r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
			if n = int(r); e != 0 { // EINTR: take again
				n = 0
				return e != syscall.EINTR
			}
			return n > 0 // none: wait until the set is readable
		})
		if err != nil {
			return
		}
		p.dispatch(events[:n])
	}
}

// dispatch counts each event on its connection and wakes it.
func (p *Poller) dispatch(events []syscall.EpollEvent) {
	for _, ev := range events {
		p.mu.Lock()
		c := p.conns[int(ev.Fd)]
		p.mu.Unlock()
		if c != nil {
			p.notify(c)
		}
	}
}

// notify records an event of c and wakes it.
func (p *Poller) notify(c *Conn) {
	c.events.Add(1)
	p.wake(c)
}

// wake hands a connection with bytes waiting to a reader: a new one if it
// is parked, its own reader if that one is still parking (or running: it
// sees the count when it parks).
func (p *Poller) wake(c *Conn) {
	for {
		switch c.state.Load() {
		case stateParked:
			if c.Take() {
				c.seen = c.events.Load() // the new reader reads what they announced
				p.resume(c)
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

// resume runs c's Resume on a resumer if one is idle, else on a goroutine
// of its own (so a resumer stuck on a slow connection delays nobody). A
// resumer's stack has grown already: a new goroutine for each wake-up
// started small and grew, copying its stack, while reading and answering
// a heartbeat (issue 9: idle CPU).
func (p *Poller) resume(c *Conn) {
	select {
	case p.resumeq <- c:
	default:
		go c.owner.Resume()
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
	for _, c := range p.conns {
		if c.state.Load() == stateParked && now-c.lastRead.Load() > int64(timeout) {
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

// ReadNow reads what waits on c's socket without waiting for more: n > 0
// bytes, or io.EOF at the end of the stream, or ErrWouldBlock when nothing
// waits (or c has no descriptor to read from: the caller then reads
// through its net.Conn). A read deadline does not apply to it.
//
// It reads the descriptor under the net.Conn's reference, so a Close from
// another goroutine cannot close (and a new connection reuse) the number
// meanwhile; the caller must be the connection's only reader.
func (c *Conn) ReadNow(p []byte) (n int, err error) {
	if c.rc == nil || len(p) == 0 {
		return 0, ErrWouldBlock
	}
	if cerr := c.rc.Control(func(fd uintptr) {
		n, err = rawIO(syscall.SYS_READ, fd, p)
	}); cerr != nil {
		return 0, cerr
	}
	switch {
	case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
		return 0, ErrWouldBlock
	case err != nil:
		return 0, os.NewSyscallError("read", err)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// WriteNow writes as much of p as c's socket takes without waiting and
// returns how much that was (0 when c has no descriptor to write to: the
// caller then writes through its net.Conn, under a deadline). No write
// deadline is needed for it, so a short reply sets no timer. The caller
// must hold whatever orders the connection's writes.
func (c *Conn) WriteNow(p []byte) int {
	if c.rc == nil {
		return 0
	}
	n := 0
	c.rc.Control(func(fd uintptr) {
		for n < len(p) {
			m, err := rawIO(syscall.SYS_WRITE, fd, p[n:])
			if err != nil || m <= 0 {
				return
			}
			n += m
		}
	})
	return n
}

// rawIO reads or writes p on the non-blocking descriptor fd, retrying on
// EINTR. A call that cannot wait needs no word to the scheduler: raw, it
// skips entering and leaving a system call (which also woke the runtime's
// monitor thread, asleep in an idle process).
func rawIO(trap, fd uintptr, p []byte) (int, error) {
	for {
		r, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case 0:
			return int(r), nil
		case syscall.EINTR:
			continue
		}
		return 0, e
	}
}

// Readable reports whether bytes (or the end of the stream) wait on c's
// socket; true when it cannot tell.
func (c *Conn) Readable() bool {
	if c.rc == nil {
		return true
	}
	var e syscall.Errno
	c.rc.Control(func(fd uintptr) {
		var b [1]byte
		_, _, e = syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	})
	return e != syscall.EAGAIN && e != syscall.EWOULDBLOCK
}
