package c2s

// BOSH, XEP-0124 with XMPP over it (XEP-0206): a client that cannot keep a
// connection open posts <body/> wrappers to /http-bind; the server holds a
// request until it has something to send or "wait" runs out. As with
// WebSocket, the rest (SASL, binding, the session) is the TCP code's: a
// boshConn turns request bodies into the byte stream it reads, and the
// elements it writes into response bodies.

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const (
	nsHTTPBind = "http://jabber.org/protocol/httpbind"
	nsXBOSH    = "urn:xmpp:xbosh"
)

// BOSH parameters this server uses (XEP-0124 § 7).
const (
	boshMaxWait     = 60 * time.Second // longest hold of a request
	boshInactivity  = 60 * time.Second // a session with no request for this long is dropped
	boshRequests    = 2                // requests a client may have open at once
	boshMaxBody     = 256<<10 + 4096   // one request body
	boshMaxPending  = 1 << 20          // output waiting for a request, per session
	boshMaxSessions = 100_000
)

// boshSessions are the live BOSH sessions by sid.
type boshSessions struct {
	mu sync.Mutex
	m  map[string]*boshConn
}

func (b *boshSessions) get(sid string) *boshConn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[sid]
}

func (b *boshSessions) add(c *boshConn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]*boshConn{}
	}
	if len(b.m) >= boshMaxSessions {
		return false
	}
	b.m[c.sid] = c
	return true
}

func (b *boshSessions) remove(sid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, sid)
}

// boshFraming: elements go into <body/> wrappers, each standing alone as
// on WebSocket; the stream header is the session's creation (or restart)
// response, the end of the stream a terminating body.
type boshFraming struct{ wsFraming }

func (boshFraming) open(id, from string) string { return "" } // the body attributes carry it
func (boshFraming) close() string               { return boshEnd }
func (boshFraming) finish(c *conn, _ bool)      { c.nc.Close() } // the BOSH session (no STARTTLS over HTTP)
func (boshFraming) batches() bool               { return false } // as before: only TCP batches

// boshEnd marks the end of the stream in the output queue.
const boshEnd = "\x00end"

// ServeBOSH serves BOSH (mount it at /http-bind). Any origin may use it:
// no cookie or other ambient credential is involved.
func (s *Server) ServeBOSH(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.Header().Set("Access-Control-Max-Age", "86400")
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, "BOSH (XEP-0124) takes POST", http.StatusMethodNotAllowed)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, boshMaxBody+1))
	if err != nil {
		return
	}
	if len(raw) > boshMaxBody {
		boshTerminate(w, "policy-violation")
		return
	}
	body, inner, err := parseBody(raw)
	if err != nil {
		boshTerminate(w, "bad-request")
		return
	}
	rid, err := strconv.ParseUint(attr(body, "rid"), 10, 53)
	if err != nil {
		boshTerminate(w, "bad-request")
		return
	}
	sid := attr(body, "sid")
	if sid == "" {
		s.boshCreate(w, r, body, rid)
		return
	}
	c := s.bosh.get(sid)
	if c == nil {
		boshTerminate(w, "item-not-found")
		return
	}
	c.request(w, body, rid, inner)
}

// parseBody checks a request is one <body/> in the httpbind namespace and
// returns its start tag and the bytes inside it.
func parseBody(raw []byte) (*xml.StartElement, []byte, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	var start *xml.StartElement
	for start == nil {
		t, err := d.RawToken()
		if err != nil {
			return nil, nil, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			st := t.Copy()
			start = &st
		case xml.ProcInst, xml.CharData:
		default:
			return nil, nil, errors.New("not a body")
		}
	}
	if start.Name.Local != "body" || attr(start, "xmlns") != nsHTTPBind {
		return nil, nil, errors.New("not a body")
	}
	from := d.InputOffset()
	rest := bytes.TrimSpace(raw[from:])
	if bytes.HasSuffix(raw[:from], []byte("/>")) {
		if len(rest) > 0 {
			return nil, nil, errors.New("content after the body")
		}
		return start, nil, nil
	}
	end := bytes.LastIndex(rest, []byte("</"))
	if end < 0 || !bytes.HasPrefix(bytes.TrimSpace(rest[end:]), []byte("</"+start.Name.Local)) {
		return nil, nil, errors.New("unclosed body")
	}
	return start, rest[:end], nil
}

func boshTerminate(w http.ResponseWriter, condition string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	io.WriteString(w, xmlstream.New(nsHTTPBind, "body").Set("type", "terminate").Set("condition", condition).In(xmlstream.Standalone))
}

// boshCreate starts a session (XEP-0124 § 7.1, XEP-0206 § 3).
func (s *Server) boshCreate(w http.ResponseWriter, r *http.Request, body *xml.StartElement, rid uint64) {
	domain := strings.ToLower(attr(body, "to"))
	if !s.Hub.Serves(domain) {
		boshTerminate(w, "host-unknown")
		return
	}
	wait := boshMaxWait
	if v, err := strconv.Atoi(attr(body, "wait")); err == nil && v >= 0 && time.Duration(v)*time.Second < wait {
		wait = time.Duration(v) * time.Second
	}
	bc := &boshConn{sid: randomToken(), srv: &s.bosh, rid: rid, wait: wait, domain: domain,
		remote: remoteAddr(r.RemoteAddr), in: make(chan []byte, 8), closed: make(chan struct{}), wake: make(chan struct{})}
	if !s.bosh.add(bc) {
		boshTerminate(w, "remote-connection-failed")
		return
	}
	bc.lastSeen = time.Now()
	bc.watchdog = time.AfterFunc(boshInactivity, bc.inactive)
	c := &conn{s: s, nc: bc, frame: boshFraming{}, overHTTP: true, httpsTLS: r.TLS != nil}
	go c.serve(false)
	version := attrNS(body, "version")
	if version == "" {
		version = "1.0"
	}
	bc.feed(clientHeader(domain, version))
	created := boshBody().Set("sid", bc.sid).Set("wait", strconv.Itoa(int(wait/time.Second))).
		Set("inactivity", strconv.Itoa(int(boshInactivity/time.Second))).Set("polling", "0").Set("requests", strconv.Itoa(boshRequests)).
		Set("hold", "1").Set("ver", "1.11").Set("from", domain).SetNS(nsXBOSH, "version", "1.0").SetNS(nsXBOSH, "restartlogic", "true")
	bc.respond(w, rid, created, wait)
}

// boshBody is a response body, binding the prefixes XEP-0206 uses.
func boshBody() *xmlstream.Element {
	return xmlstream.New(nsHTTPBind, "body").Declare("xmpp", nsXBOSH).Declare("stream", xmlstream.NSStream)
}

// boshConn is one BOSH session as a net.Conn for the stream code.
type boshConn struct {
	sid    string
	srv    *boshSessions
	wait   time.Duration
	domain string     // the served domain the session was created for
	remote remoteAddr // of the creating request, for sign-in throttling

	in     chan []byte   // request contents, in rid order, for Read
	rest   []byte        // what Read has not handed out of the current chunk
	closed chan struct{} // closed by Close
	once   sync.Once

	mu       sync.Mutex
	rid      uint64   // the last request id taken in
	out      []string // elements written, waiting for a response
	size     int
	ended    bool          // the stream's end is queued or sent
	gen      uint64        // the newest request: older held ones give way
	wake     chan struct{} // closed (and replaced) when output arrives or a newer request comes
	lastSeen time.Time
	watchdog *time.Timer
	deadline time.Time // read deadline
}

// request handles one request of the session.
func (c *boshConn) request(w http.ResponseWriter, body *xml.StartElement, rid uint64, inner []byte) {
	c.mu.Lock()
	switch {
	case rid == c.rid+1:
		c.rid = rid
	case rid <= c.rid && c.rid-rid < boshRequests:
		c.mu.Unlock() // a resend of a request already taken in: answer, take nothing
		c.respond(w, rid, boshBody(), 0)
		return
	default:
		c.mu.Unlock()
		c.Close()
		boshTerminate(w, "item-not-found") // § 14.3: out of the window
		return
	}
	c.lastSeen = time.Now()
	c.mu.Unlock()
	switch {
	case attr(body, "type") == "terminate":
		c.feed(inner)
		c.feed([]byte(streamEnd))
	case attrNS(body, "restart") == "true":
		c.feed(clientHeader(c.domain, "1.0")) // after SASL (XEP-0206 § 5)
	default:
		c.feed(inner)
	}
	c.respond(w, rid, boshBody(), c.wait)
}

func attrNS(st *xml.StartElement, local string) string {
	for _, a := range st.Attr {
		if a.Name.Local == local && a.Name.Space != "" {
			return a.Value
		}
	}
	return ""
}

// feed hands request content to the stream reader.
func (c *boshConn) feed(b []byte) {
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	select {
	case c.in <- b:
	case <-c.closed:
	}
}

// respond holds the request until there is output, a newer request, or
// wait runs out, and answers with body holding what is queued.
func (c *boshConn) respond(w http.ResponseWriter, rid uint64, body *xmlstream.Element, wait time.Duration) {
	c.mu.Lock()
	c.gen++
	gen := c.gen
	c.signalLocked() // an older held request answers, empty
	c.mu.Unlock()
	timer := time.NewTimer(wait)
	defer timer.Stop()
hold:
	for {
		c.mu.Lock()
		ready, wake := len(c.out) > 0 || c.ended || gen != c.gen, c.wake
		c.mu.Unlock()
		if ready {
			break
		}
		select {
		case <-wake:
		case <-timer.C:
			break hold
		case <-c.closed:
			break hold
		}
	}
	c.mu.Lock()
	var elems []string
	if gen == c.gen || len(c.out) > 0 && c.ended {
		elems, c.out, c.size = c.out, nil, 0
	}
	c.lastSeen = time.Now()
	if c.watchdog != nil {
		c.watchdog.Reset(boshInactivity)
	}
	c.mu.Unlock()
	terminate := false
	for _, e := range elems {
		if e == boshEnd {
			terminate = true
			continue
		}
		body.Add(xmlstream.Raw(e)) // written standalone (boshFraming)
	}
	select {
	case <-c.closed:
		terminate = true
	default:
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	if terminate {
		body.Set("type", "terminate")
		c.srv.remove(c.sid)
	}
	io.WriteString(w, body.In(xmlstream.Standalone))
}

// inactive drops a session whose client stopped sending requests; the
// stream code sees a dropped connection (the core's grace period applies).
func (c *boshConn) inactive() {
	c.mu.Lock()
	idle := time.Since(c.lastSeen)
	c.mu.Unlock()
	if idle >= boshInactivity {
		c.Close()
		return
	}
	c.watchdog.Reset(boshInactivity - idle)
}

func (c *boshConn) Read(p []byte) (int, error) {
	for len(c.rest) == 0 {
		c.mu.Lock()
		dl := c.deadline
		c.mu.Unlock()
		var timeout <-chan time.Time
		if !dl.IsZero() {
			t := time.NewTimer(time.Until(dl))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case b := <-c.in:
			c.rest = b
		case <-c.closed:
			return 0, io.EOF
		case <-timeout:
			return 0, timeoutError{}
		}
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}

// Write queues one element for the next response.
func (c *boshConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	if c.size+len(p) > boshMaxPending {
		c.mu.Unlock()
		return 0, errors.New("bosh: client is not collecting output")
	}
	s := string(p)
	c.out = append(c.out, s)
	c.size += len(p)
	c.ended = s == boshEnd
	c.signalLocked()
	c.mu.Unlock()
	return len(p), nil
}

// signalLocked wakes every held request. The caller holds mu.
func (c *boshConn) signalLocked() {
	close(c.wake)
	c.wake = make(chan struct{})
}

func (c *boshConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.mu.Lock()
		if c.watchdog != nil {
			c.watchdog.Stop()
		}
		c.mu.Unlock()
		time.AfterFunc(boshMaxWait+5*time.Second, func() { c.srv.remove(c.sid) }) // held requests answer first
	})
	return nil
}

func (c *boshConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }
func (c *boshConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return nil
}
func (c *boshConn) SetWriteDeadline(time.Time) error { return nil } // writes only queue
func (c *boshConn) LocalAddr() net.Addr              { return remoteAddr("") }
func (c *boshConn) RemoteAddr() net.Addr             { return c.remote }

// remoteAddr is the HTTP client's address ("host:port").
type remoteAddr string

func (remoteAddr) Network() string  { return "tcp" }
func (a remoteAddr) String() string { return string(a) }

type timeoutError struct{}

func (timeoutError) Error() string   { return "bosh: read deadline" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
