package ws

import (
	"context"
	"errors"

	"github.com/presenced/presenced/internal/netpoll"
	"github.com/presenced/presenced/internal/websocket"
	"github.com/presenced/presenced/internal/wire"
)

// Answering a lone heartbeat on the poller's goroutine (issue 9: idle CPU).
// An idle session's only traffic is a heartbeat every period; handing each
// to a reader goroutine cost a scheduler hand-off, most of the idle CPU.
// When a woken connection's socket holds exactly one small heartbeat frame,
// the poller's goroutine answers it and parks the connection again itself.
// Nothing there may wait: the read and the write are non-blocking, the
// handling takes only the session's lock (wire.Conn.Prompt), the write lock
// is only tried; whatever would wait goes on a goroutine of the
// connection's own, which then reads on as its reader, so frames are still
// handled and answered one at a time and in order.

// smallRead is what answerNow reads: more than a heartbeat frame (a
// header, a mask and a payload of a few dozen bytes), so a read that fills
// it is something else.
const smallRead = 6 + websocket.MaxSmallText + 1

// AnswerNow (netpoll.Answerer) answers a lone heartbeat of the woken
// connection, which the poller's goroutine handed over taken; false leaves
// what it read in c.pre for Resume.
func (c *conn) AnswerNow() bool {
	if c.proto.Session == nil || c.closed.Load() || len(c.pre) > 0 {
		return false
	}
	var buf [smallRead]byte
	n, err := c.pc.ReadNow(buf[:])
	switch {
	case err == netpoll.ErrWouldBlock: // nothing came after all
		return c.h.poller.Park(&c.pc, c.closed.Load)
	case n == 0: // the end of the stream, or an error: the reader meets it again
		return false
	}
	var payload [websocket.MaxSmallText]byte
	msg, ok := websocket.SmallText(buf[:n], payload[:])
	var f wire.ClientFrame
	if ok {
		f, ok = wire.DecodeHeartbeat(msg)
	}
	if !ok || !c.proto.Prompt(f) {
		c.keep(buf[:n])
		return false
	}
	c.pc.Touch()
	reply, err := c.handleNow(f)
	switch {
	case errors.Is(err, wire.ErrClose): // goodbye, as the reader says it
		go c.runAfter(func() error { return c.answer(reply, err) })
	case err != nil: // a panic: it ends the connection, as on the reader
		go c.runAfter(func() error { return err })
	case reply == nil: // an ack
		c.h.answered.Add(1)
		return c.h.poller.Park(&c.pc, c.closed.Load)
	case !c.writeMu.TryLock(): // a flush or a goodbye is writing: the reply waits its turn
		go c.runAfter(func() error { return c.write(reply) })
	default:
		frame := websocket.AppendFrame(make([]byte, 0, len(reply)+2), websocket.OpText, reply)
		if w := c.pc.WriteNow(frame); w < len(frame) {
			// the socket is full: the rest waits, writeMu still held so
			// no other frame goes between
			rest := frame[w:]
			go c.runAfter(func() error { return c.finishAnswer(rest) })
			return true
		}
		c.writeMu.Unlock()
		c.h.answered.Add(1)
		return c.h.poller.Park(&c.pc, c.closed.Load)
	}
	return true
}

// handleNow handles a heartbeat that Prompt cleared; a panic is the
// connection's error, as on its reader.
func (c *conn) handleNow(f wire.ClientFrame) (reply []byte, err error) {
	defer c.recoverTo(&err)
	return c.proto.Handle(context.Background(), f)
}

// keep leaves b, read from the socket, for the reader to take first.
func (c *conn) keep(b []byte) {
	rb := readBufs.Get().(*readBuf)
	c.pre, c.preBuf = rb[:copy(rb[:], b)], rb
	c.drained = len(b) < smallRead // a short read took all there was
}

// finishAnswer writes the rest of a reply the socket had no room for,
// under the write deadline; the caller holds writeMu for it.
func (c *conn) finishAnswer(rest []byte) error {
	c.extendDeadline()
	_, err := c.nc.Write(rest)
	c.writeMu.Unlock()
	return err // a failed write ends the reader, which closes
}
