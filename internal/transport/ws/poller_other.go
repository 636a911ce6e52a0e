//go:build !linux

package ws

import "time"

// poller is Linux-only (epoll); elsewhere each connection keeps a reader
// goroutine blocked in read.
type poller struct{}

func newPoller() *poller              { return nil }
func (p *poller) park(*conn) bool     { return false }
func (p *poller) unpark(*conn)        {}
func (p *poller) sweep(time.Duration) {}
func (c *conn) readable() bool        { return true }
