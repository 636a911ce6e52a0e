package c2s

// Everything a stream sends goes through write: stanzas and negotiation
// elements are built as xmlstream element trees and serialised by its one
// writer, in the scope the transport's framing declares (a TCP stream
// header declares jabber:client and stream:; RFC 7395 and BOSH elements
// stand alone).

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// framing is how a stream's top-level items go on the wire.
type framing interface {
	open(id, from string) string // the response stream header
	scope() xmlstream.Scope      // what is declared around a top-level element
	close() string               // the end of the stream
	finish(c *conn, closed bool) // closes c's transport once the stream is over
	batches() bool               // writes may be gathered (batched): a stream, not messages
}

// tcpFraming is RFC 6120's: one XML document per direction.
type tcpFraming struct{}

func (tcpFraming) open(id, from string) string {
	return `<?xml version='1.0'?>` + xmlstream.New(xmlstream.NSStream, "stream").
		Declare("", nsClient).Declare("stream", xmlstream.NSStream).
		Set("id", id).Set("from", from).Set("version", "1.0").SetNS(xmlstream.NSXML, "lang", "en").
		Start(xmlstream.Standalone)
}
func (tcpFraming) scope() xmlstream.Scope { return tcpScope }
func (tcpFraming) close() string          { return streamEnd }
func (tcpFraming) batches() bool          { return true }

// tcpScope is what a TCP stream header declares, made once (a Scope holds
// a slice).
var tcpScope = xmlstream.In(nsClient)

// streamEnd closes a stream opened by a header.
var streamEnd = xmlstream.New(xmlstream.NSStream, "stream").End()

// clientHeader is the stream header a client sends, for the transports
// whose clients send something else (RFC 7395's <open/>, BOSH's session
// creation and restart) and whose input the stream reader takes as TCP's.
func clientHeader(to, version string) []byte {
	return []byte(xmlstream.New(xmlstream.NSStream, "stream").
		Declare("", nsClient).Declare("stream", xmlstream.NSStream).
		Set("to", to).Set("version", version).Start(xmlstream.Standalone))
}

// write sends one top-level element, framed for the transport: written
// straight into the batch when one gathers, else into a lent buffer.
func (c *conn) write(el *xmlstream.Element) error {
	scope := c.frame.scope()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.countLocked(isStanza(el))
	if c.batch != nil {
		*c.batch = el.AppendIn(*c.batch, scope)
		return c.gatheredLocked()
	}
	buf := batches.Get().(*[]byte)
	*buf = el.AppendIn((*buf)[:0], scope)
	err := c.writeLocked(*buf)
	release(buf)
	return err
}

// send writes what the framing made, in one Write (one WebSocket message),
// counting stanzas for stream management. Inside batched, it gathers.
func (c *conn) send(s string, stanza bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.countLocked(stanza)
	if c.batch != nil {
		*c.batch = append(*c.batch, s...)
		return c.gatheredLocked()
	}
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout)) // a client that stops reading is dropped
	_, err := io.WriteString(c.nc, s)
	return err
}

// countLocked counts a stanza sent, for stream management.
func (c *conn) countLocked(stanza bool) {
	if c.live != nil && stanza {
		if sm := c.sm.Load(); sm != nil {
			sm.out.Add(1)
		}
	}
}

// gatheredLocked writes the batch out once it holds maxBatch.
func (c *conn) gatheredLocked() error {
	if len(*c.batch) < maxBatch {
		return nil
	}
	return c.writeBatchLocked()
}

// writeLocked writes p in one Write.
func (c *conn) writeLocked(p []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout)) // a client that stops reading is dropped
	_, err := c.nc.Write(p)
	return err
}

// maxBatch is where a batch is written out before it ends: what a batch
// holds stays bounded whatever the stanzas' sizes.
const maxBatch = 16 << 10

// batches lends the buffers of batched: a stream holds one only while it
// writes.
var batches = sync.Pool{New: func() any { b := make([]byte, 0, maxBatch); return &b }}

// batched runs f, whose writes (through send, from any goroutine) are
// gathered and leave together when it returns: one TLS record and one
// system call for what a flush or a stream header writes, instead of one
// each per stanza. Only a TCP stream batches: on the other transports
// one Write is one message.
func (c *conn) batched(f func() error) error {
	if !c.frame.batches() {
		return f()
	}
	buf := batches.Get().(*[]byte)
	c.wmu.Lock()
	c.batch = buf
	c.wmu.Unlock()
	err := f()
	c.wmu.Lock()
	if werr := c.writeBatchLocked(); err == nil {
		err = werr
	}
	c.batch = nil
	c.wmu.Unlock()
	release(buf)
	return err
}

// release gives a buffer of batches back.
func release(buf *[]byte) {
	if cap(*buf) <= 2*maxBatch { // a huge stanza's buffer is left to the collector
		*buf = (*buf)[:0]
		batches.Put(buf)
	}
}

// writeBatchLocked writes out what the batch gathered.
func (c *conn) writeBatchLocked() error {
	if len(*c.batch) == 0 {
		return nil
	}
	err := c.writeLocked(*c.batch)
	*c.batch = (*c.batch)[:0]
	return err
}

// isStanza: a top-level element that counts (XEP-0198 § 4).
func isStanza(el *xmlstream.Element) bool {
	switch el.Name.Local {
	case "message", "presence", "iq":
		return el.Name.Space == nsClient
	}
	return false
}

// end sends a stream error, if any, and the end of the stream.
func (c *conn) end(condition, text string) {
	if condition != "" {
		e := xmlstream.New(xmlstream.NSStream, "error").Add(xmlstream.New(nsStreams, condition))
		if text != "" {
			e.Add(xmlstream.New(nsStreams, "text").AddText(text))
		}
		c.write(e)
	}
	c.send(c.frame.close(), false)
}

// stanzaError is the error child of a stanza (RFC 6120 § 8.3.2): its type,
// its defined condition and any application-specific one.
func stanzaError(typ, condition string, extra ...xmlstream.Node) *xmlstream.Element {
	return xmlstream.New(nsClient, "error").Set("type", typ).Add(xmlstream.New(nsStanzas, condition)).Add(extra...)
}

// forbidden is the stanza error for what an app's session may not do
// (core.CodeForbidden: its user did not grant it), with the reason in
// words: the core's, or why.
func forbidden(why string) *xmlstream.Element {
	return stanzaError("auth", "forbidden", xmlstream.New(nsStanzas, "text").AddText(why))
}

// refusal is the core's reason for a CodeForbidden error, if err is one.
func refusal(err error) (string, bool) {
	var ce *core.Error
	if errors.As(err, &ce) && ce.Code == core.CodeForbidden {
		return ce.Message, true
	}
	return "", false
}
