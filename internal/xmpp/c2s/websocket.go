package c2s

// XMPP over WebSocket, RFC 7395. Every WebSocket message is one complete
// element: <open/> and <close/> in the framing namespace stand for the
// stream header and its end, stanzas carry their own namespace. The rest of
// the connection — SASL, binding, the session — is the TCP code's: a
// wsConn turns the messages into the byte stream it reads and frames each
// element it writes.

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/websocket"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const nsFraming = "urn:ietf:params:xml:ns:xmpp-framing"

// wsFraming is RFC 7395's: each element stands alone, so it declares the
// namespaces the stream header declares on TCP.
type wsFraming struct{}

func (wsFraming) open(id, from string) string {
	return xmlstream.New(nsFraming, "open").Set("id", id).Set("from", from).Set("version", "1.0").
		SetNS(xmlstream.NSXML, "lang", "en").In(xmlstream.Standalone)
}
func (wsFraming) scope() xmlstream.Scope { return xmlstream.Standalone }
func (wsFraming) close() string          { return xmlstream.New(nsFraming, "close").In(xmlstream.Standalone) }
func (wsFraming) finish(c *conn, _ bool) { c.nc.Close() } // the WebSocket (no STARTTLS over HTTP)
func (wsFraming) batches() bool          { return false } // one Write is one message

// Subprotocol is the WebSocket subprotocol of RFC 7395 § 3.1.
const Subprotocol = "xmpp"

// ServeWebSocket serves XMPP over WebSocket (mount it at /xmpp-websocket).
// No cookie or other ambient credential is involved (the client
// authenticates with SASL inside the stream), so any origin may connect.
func (s *Server) ServeWebSocket(w http.ResponseWriter, r *http.Request) {
	key, status, msg := websocket.CheckUpgrade(r)
	if status == 0 && !websocket.HeaderHas(r.Header, "Sec-WebSocket-Protocol", Subprotocol) {
		status, msg = http.StatusBadRequest, "RFC 7395: the client must offer the subprotocol \"xmpp\""
	}
	if status != 0 {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, msg, status)
		return
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot upgrade", http.StatusInternalServerError)
		return
	}
	ws := &wsConn{Conn: nc}
	if n := brw.Reader.Buffered(); n > 0 { // sent before our answer
		pre, _ := brw.Reader.Peek(n)
		ws.raw = io.MultiReader(bytes.NewReader(append([]byte(nil), pre...)), nc)
	} else {
		ws.raw = nc
	}
	nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := io.WriteString(nc, websocket.Accept(key, Subprotocol)); err != nil {
		nc.Close()
		return
	}
	c := &conn{s: s, nc: ws, frame: wsFraming{}, overHTTP: true, httpsTLS: r.TLS != nil}
	go c.serve(false) // not on net/http's goroutine, whose stack it would keep
}

// wsConn is a net.Conn whose Read yields the stream as TCP would carry it
// and whose Write sends each write as one text message.
type wsConn struct {
	net.Conn
	raw     io.Reader // the connection, after any bytes read ahead
	pending []byte    // the rest of the current message, translated
	wmu     sync.Mutex
	closed  bool // our close frame went out; guarded by wmu
}

// maxMessage bounds one message; the stream reader's own limits apply to
// what it holds, this one to what the framing buffers.
const maxMessage = 256<<10 + 4096

func (c *wsConn) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		msg, err := websocket.ReadMessage(c.raw, maxMessage, c.control)
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.closeWith(ce.Code, ce.Reason)
			}
			if errors.Is(err, websocket.ErrPeerClosed) {
				return 0, io.EOF
			}
			return 0, err
		}
		if c.pending, err = translate(msg); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// translate turns one message into stream bytes: <open/> into a stream
// header, <close/> into its end; a message that is not one element is a
// stream error (RFC 7395 § 3.3.3).
func translate(msg []byte) ([]byte, error) {
	d := xml.NewDecoder(bytes.NewReader(msg))
	var first *xml.StartElement
	depth := 0
	for {
		t, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &xmlstream.StreamError{Condition: "not-well-formed", Text: "a message must be one XML element"}
		}
		switch t := t.(type) {
		case xml.StartElement:
			if depth == 0 && first != nil {
				return nil, &xmlstream.StreamError{Condition: "not-well-formed", Text: "one element per message (RFC 7395 § 3.3.3)"}
			}
			if first == nil {
				st := t.Copy()
				first = &st
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return nil, &xmlstream.StreamError{Condition: "not-well-formed", Text: "text outside the element"}
			}
		}
	}
	if first == nil || depth != 0 {
		return nil, &xmlstream.StreamError{Condition: "not-well-formed", Text: "a message must be one XML element"}
	}
	if first.Name.Space == "" && attr(first, "xmlns") == nsFraming {
		switch first.Name.Local {
		case "open":
			return clientHeader(attr(first, "to"), attr(first, "version")), nil
		case "close":
			return []byte(streamEnd), nil
		}
	}
	return msg, nil
}

func attr(st *xml.StartElement, local string) string {
	for _, a := range st.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// control answers pings; the close handshake ends the stream.
func (c *wsConn) control(op byte, payload []byte) error {
	switch op {
	case websocket.OpPing:
		c.wmu.Lock()
		defer c.wmu.Unlock()
		_, err := c.Conn.Write(websocket.AppendFrame(nil, websocket.OpPong, payload))
		return err
	case websocket.OpClose:
		c.closeWith(websocket.CloseNormal, "")
		return websocket.ErrPeerClosed
	}
	return nil
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if _, err := c.Conn.Write(websocket.AppendFrame(make([]byte, 0, len(p)+10), websocket.OpText, p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// closeWith sends the close frame once.
func (c *wsConn) closeWith(code int, reason string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.closed {
		c.closed = true
		c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		c.Conn.Write(websocket.AppendFrame(nil, websocket.OpClose, websocket.ClosePayload(code, reason)))
	}
}

// Close ends the WebSocket connection with a close frame.
func (c *wsConn) Close() error {
	c.closeWith(websocket.CloseNormal, "")
	return c.Conn.Close()
}
