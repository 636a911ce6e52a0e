// Package netpoll lets an idle connection wait without a goroutine: its
// reader parks it in an epoll set (Linux) and exits, and a reader is
// started when bytes arrive (on one of a few long-lived goroutines if one
// is idle, else on a new one). An idle session then costs no
// stack at all, whatever its transport (the JSON protocol's WebSocket,
// XMPP's TCP streams). Elsewhere than on Linux, New returns nil and every
// connection keeps a reader blocked in read, as a nil Poller's methods
// arrange.
//
// Who may read a connection, or close its descriptor, is its state:
// running (its reader goroutine owns it), parking (its reader is
// registering it, and still owns it), parked (nobody: whoever takes it out
// of parked owns it from then on) or done. A descriptor is never closed
// while it is registered or being registered: its number would be reused
// at once by the next accepted connection, which the poller would then
// evict or confuse with this one.
package netpoll

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	stateRunning int32 = iota
	stateParking
	stateParked
	stateDone
	stateWoken // the poller saw bytes while the reader was parking: keep reading
)

// ErrWouldBlock is ReadNow's answer when nothing waits to be read.
var ErrWouldBlock = errors.New("netpoll: nothing to read now")

// Conn is a connection's part in the poller. Its zero value is a running
// connection that never parks; Init ties it to a descriptor and an owner.
type Conn struct {
	fd         int
	rc         syscall.RawConn
	state      atomic.Int32
	registered atomic.Bool  // known to the poller's epoll set
	lastRead   atomic.Int64 // unix nanoseconds of the last read (Touch)
	owner      Owner
}

// An Owner is the connection a Conn is part of. The poller calls it, on a
// new goroutine, once it has handed the connection over: the caller owns
// it from then on.
type Owner interface {
	Resume() // bytes arrived for the parked connection: read them
	Expire() // the sweep found it silent for too long: end it
}

// An Answerer is an Owner that can sometimes take care of its woken
// connection at once, on the poller's own goroutine: a lone heartbeat is
// answered and the connection parked again without handing it to another
// goroutine (a scheduler hand-off per heartbeat, most of an idle
// session's CPU; issue 9).
type Answerer interface {
	Owner
	// AnswerNow is called on the poller's goroutine with the connection
	// taken (running: the callee owns it). It must not wait for anything
	// (no blocking read or write, no lock held across a wait): every
	// parked connection waits behind it. It reports true if it took care
	// of the connection, parking it again or handing it to a goroutine of
	// its own; false has the poller call Resume as usual, and what it read
	// meanwhile must then be left for Resume to find.
	AnswerNow() bool
}

// Init ties c to nc's descriptor, if it has one (a *net.TCPConn does; a
// TLS connection is parked by the descriptor under it), and to its owner.
func (c *Conn) Init(nc net.Conn, owner Owner) {
	c.fd, c.owner = -1, owner
	c.Touch()
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc = rc
			rc.Control(func(fd uintptr) { c.fd = int(fd) })
		}
	}
}

// Touch records a read: the sweep measures silence from the last one.
func (c *Conn) Touch() { c.lastRead.Store(time.Now().UnixNano()) }

// Take takes a parked connection out of the poller's hands: true if the
// caller owns it now (and must unpark it before closing its descriptor).
func (c *Conn) Take() bool { return c.state.CompareAndSwap(stateParked, stateRunning) }

// TakeDone is Take for a caller that ends the connection at once.
func (c *Conn) TakeDone() bool { return c.state.CompareAndSwap(stateParked, stateDone) }

// Done marks the connection over; its owner then unparks it and closes it.
func (c *Conn) Done() { c.state.Store(stateDone) }
