package netpoll

import (
	"io"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Poller is an epoll set of parked connections. Registration is one-shot
// and level-triggered: re-arming a connection that already has bytes
// waiting reports it at once, so no wake-up is lost between the last read
// and parking.
type Poller struct {
	epfd   int
	ep     *os.File // epfd, when the Go runtime's own poller waits on it (loop)
	mu     sync.Mutex
	parked []*Conn // by descriptor: a slice, as a map cost a hash per wake-up and park (issue 9)
	count  int     // non-nil entries of parked
	// resumeq hands woken connections to idle resumers (see resume).
	resumeq chan *Conn
}

// resumers is how many long-lived goroutines resume woken connections.
const resumers = 8

// New starts a poller; nil if epoll is not available (every connection
// then keeps its reader).
func New() *Poller {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	p := &Poller{epfd: fd, resumeq: make(chan *Conn)}
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
	p.putLocked(c)
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
	if p.getLocked(c.fd) == c {
		p.takeLocked(c.fd)
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
	return p.count
}

// putLocked records c as parked under its descriptor, growing the table
// to it: descriptors are small numbers, bounded by the process's limit on
// open files, so the table is too.
func (p *Poller) putLocked(c *Conn) {
	if c.fd >= len(p.parked) {
		p.parked = append(p.parked, make([]*Conn, c.fd+1-len(p.parked))...)
	}
	if p.parked[c.fd] == nil {
		p.count++
	}
	p.parked[c.fd] = c
}

// getLocked is the connection parked under fd, or nil.
func (p *Poller) getLocked(fd int) *Conn {
	if fd < 0 || fd >= len(p.parked) {
		return nil
	}
	return p.parked[fd]
}

// takeLocked removes and returns the connection parked under fd, or nil.
func (p *Poller) takeLocked(fd int) *Conn {
	c := p.getLocked(fd)
	if c != nil {
		p.parked[fd] = nil
		p.count--
	}
	return c
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
		var failed syscall.Errno
		// Always take once more before waiting, although the last take
		// emptied the set: waiting at once lost wake-ups (the stress test
		// TestNoWakeUpLost found it).
		err := rc.Read(func(fd uintptr) bool {
			r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
			if n = int(r); e != 0 { // EINTR: take again
				n, failed = 0, e
				return e != syscall.EINTR
			}
			return n > 0 // none: wait until the set is readable
		})
		if err != nil || (failed != 0 && failed != syscall.EINTR) {
			return
		}
		p.dispatch(events[:n])
	}
}

// dispatch wakes the connections of events, which are one-shot: each is
// out of the set until it parks again.
func (p *Poller) dispatch(events []syscall.EpollEvent) {
	for _, ev := range events {
		p.mu.Lock()
		c := p.takeLocked(int(ev.Fd))
		p.mu.Unlock()
		if c != nil {
			p.wake(c)
		}
	}
}

// wake hands a connection with bytes waiting to a reader: a new one
// (resume) if it is parked and its owner could not answer it at once
// (Answerer), its own reader if that one is still parking.
func (p *Poller) wake(c *Conn) {
	for {
		switch c.state.Load() {
		case stateParked:
			if c.Take() {
				if a, ok := c.owner.(Answerer); ok && a.AnswerNow() {
					return
				}
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
	for _, c := range p.parked {
		if c != nil && now-c.lastRead.Load() > int64(timeout) {
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
