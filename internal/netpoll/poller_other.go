//go:build !linux

package netpoll

import "time"

// Poller is Linux-only (epoll); elsewhere New returns nil and each
// connection keeps a reader goroutine blocked in read.
type Poller struct{}

func New() *Poller                             { return nil }
func (p *Poller) Park(*Conn, func() bool) bool { return false }
func (p *Poller) Unpark(*Conn)                 {}
func (p *Poller) Sweep(time.Duration)          {}
func (c *Conn) Readable() bool                 { return true }
func (c *Conn) ReadNow([]byte) (int, error)    { return 0, ErrWouldBlock }
func (c *Conn) WriteNow([]byte) int            { return 0 }
