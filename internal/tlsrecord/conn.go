package tlsrecord

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Record layer sizes (RFC 8446 § 5).
const (
	recordHeaderLen = 5
	maxPlaintext    = 1 << 14
	maxCiphertext   = maxPlaintext + 256
	maxRecord       = recordHeaderLen + maxCiphertext
	tagLen          = 16
)

// Content types and the alerts and handshake messages the record layer
// deals with.
const (
	typeAlert       = 21
	typeHandshake   = 22
	typeAppData     = 23
	msgKeyUpdate    = 24
	alertClose      = 0
	alertUnexpected = 10
	alertBadMAC     = 20
	alertOverflow   = 22
	alertDecode     = 50
	alertCanceled   = 90
)

// maxUseless bounds records in a row that carry no application data (empty
// records, KeyUpdates, user_canceled warnings), as crypto/tls does.
const maxUseless = 16

// Record buffers are lent by two pools: a connection holds one only while
// bytes wait in it, so an idle connection holds none. Most records are
// small (a stanza or a few), and what the pools keep after a burst of
// logins stays in the heap until the collector empties them: small
// buffers, and a full-size one only for records that need it.
const smallBuf = 4 << 10

var (
	smallBufs = sync.Pool{New: func() any { b := make([]byte, smallBuf); return &b }}
	largeBufs = sync.Pool{New: func() any { b := make([]byte, maxRecord); return &b }}
)

// getBuf lends a buffer of at least n bytes (at most maxRecord).
func getBuf(n int) *[]byte {
	if n <= smallBuf {
		return smallBufs.Get().(*[]byte)
	}
	return largeBufs.Get().(*[]byte)
}

func putBuf(b *[]byte) {
	if len(*b) == smallBuf {
		smallBufs.Put(b)
	} else {
		largeBufs.Put(b)
	}
}

// suite is what the record layer needs of a TLS 1.3 cipher suite.
type suite struct {
	keyLen int
	hash   func() hash.Hash
	aead   func(key []byte) (cipher.AEAD, error)
}

func aesGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

var suites = map[uint16]*suite{
	tls.TLS_AES_128_GCM_SHA256:       {16, sha256.New, aesGCM},
	tls.TLS_AES_256_GCM_SHA384:       {32, sha512.New384, aesGCM},
	tls.TLS_CHACHA20_POLY1305_SHA256: {32, sha256.New, chacha20poly1305.New},
}

// half is one direction's protection: its traffic secret (for KeyUpdate),
// the key and IV derived from it, the next record's sequence number, and
// the AEAD, built from the key when needed and dropped while idle.
type half struct {
	suite  *suite
	secret []byte
	key    []byte
	iv     [12]byte
	// the writing side's rest (rest.go), in what iv leaves of its word:
	// queued for the rester, and written since it last looked; under wmu
	queued, used bool
	seq          uint64
	aead         cipher.AEAD
}

// expandLabel is HKDF-Expand-Label (RFC 8446 § 7.1) with an empty context.
func expandLabel(h func() hash.Hash, secret []byte, label string, n int) []byte {
	info := make([]byte, 0, 4+6+len(label))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(6+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0)
	out, err := hkdf.Expand(h, secret, string(info), n)
	if err != nil {
		panic("tlsrecord: " + err.Error()) // only for lengths beyond 255 hashes
	}
	return out
}

// setSecret keys the direction from a traffic secret (RFC 8446 § 7.3).
func (h *half) setSecret(secret []byte) error {
	h.secret = secret
	h.key = expandLabel(h.suite.hash, secret, "key", h.suite.keyLen)
	copy(h.iv[:], expandLabel(h.suite.hash, secret, "iv", len(h.iv)))
	h.seq, h.aead = 0, nil
	return h.build() // fails here, before the connection is taken over, if ever
}

// update moves to the next traffic secret (RFC 8446 § 7.2).
func (h *half) update() error {
	return h.setSecret(expandLabel(h.suite.hash, h.secret, "traffic upd", len(h.secret)))
}

func (h *half) build() error {
	if h.aead != nil {
		return nil
	}
	a, err := h.suite.aead(h.key)
	if err != nil {
		return err
	}
	h.aead = a
	return nil
}

// nonce is the IV combined with the sequence number (RFC 8446 § 5.3).
func (h *half) nonce() [12]byte {
	n := h.iv
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], h.seq)
	for i := range s {
		n[4+i] ^= s[i]
	}
	return n
}

// next advances the sequence number, which must never wrap (§ 5.3).
func (h *half) next() error {
	if h.seq == 1<<64-1 {
		return errors.New("tlsrecord: sequence number exhausted")
	}
	h.seq++
	return nil
}

// count is how many records of what crypto/tls wrote during the handshake
// it protected with this direction's (the server's application) key: the
// session ticket it sends in its first flight, if any. The records under
// the handshake keys do not open with it.
func (h *half) count(sent []byte) uint64 {
	for len(sent) >= recordHeaderLen {
		n := recordHeaderLen + int(binary.BigEndian.Uint16(sent[3:]))
		if n > len(sent) {
			break
		}
		if sent[0] == typeAppData {
			nonce := h.nonce()
			if _, err := h.aead.Open(nil, nonce[:], sent[recordHeaderLen:n], sent[:recordHeaderLen]); err == nil {
				h.seq++
			}
		}
		sent = sent[n:]
	}
	return h.seq
}

// Conn is a TLS 1.3 connection past its handshake. One goroutine reads;
// writes may come from any. Rest drops the AEADs of an idle connection
// (the writing one a moment later, rest.go); they are made again from the
// keys on the next record.
type Conn struct {
	raw net.Conn

	// the reading side: the reader's only
	in      half
	buf     *[]byte // pooled; nil when nothing is buffered
	off     int     // start of the records not yet opened
	end     int     // end of what was read
	ps, pe  int32   // opened application data not yet read: (*buf)[ps:pe] (not a slice: 16 bytes less per connection)
	useless int
	rerr    error // sticky: the connection can no longer be read

	wmu  sync.Mutex
	out  half
	werr error // sticky: a record may have been cut short
}

func newConn(raw net.Conn, id uint16, clientSecret, serverSecret []byte) (*Conn, error) {
	s := suites[id]
	if s == nil {
		return nil, fmt.Errorf("tlsrecord: cipher suite %#04x", id)
	}
	c := &Conn{raw: raw, in: half{suite: s}, out: half{suite: s}}
	if err := c.in.setSecret(clientSecret); err != nil {
		return nil, err
	}
	if err := c.out.setSecret(serverSecret); err != nil {
		return nil, err
	}
	return c, nil
}

// adopt takes the bytes the handshake read ahead: (*buf)[pos:n].
func (c *Conn) adopt(buf *[]byte, pos, n int) {
	if buf == nil {
		return
	}
	if pos == n {
		putBuf(buf)
		return
	}
	c.buf, c.off, c.end = buf, pos, n
}

// NetConn is the socket under the connection.
func (c *Conn) NetConn() net.Conn { return c.raw }

// Pending reports whether bytes the client sent wait in the connection
// (opened or not), so that a read would not wait for the socket.
func (c *Conn) Pending() bool { return c.pe > c.ps || c.end > c.off }

// Rest drops the reading side's AEAD at once and the writing side's once
// it has written nothing for a moment (RestWrite), for a connection about
// to wait idle. The reader calls it.
func (c *Conn) Rest() {
	c.in.aead = nil
	c.RestWrite()
}

// AtRest reports whether the connection holds no reading AEAD and no
// buffer, and no writing AEAD but one the rester is to drop, as after Rest
// with nothing pending (for tests and diagnostics). The reader calls it.
func (c *Conn) AtRest() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.in.aead == nil && (c.out.aead == nil || c.out.queued) && c.buf == nil
}

// RestWrite drops the writing side's AEAD once a burst of writes is over:
// not at once but when it has written nothing for a tick of the rester
// (rest.go), since the next burst often follows within milliseconds (a
// login's answers, a fan-out's updates), and making the AEAD anew each
// time (AES's key schedule, GHASH's table, about 1 KiB) cost more than
// keeping it that long.
func (c *Conn) RestWrite() { c.restWrite(&resting) }

// restWrite queues the writing AEAD for r to drop, unless it is queued
// already or there is none.
func (c *Conn) restWrite(r *rester) {
	c.wmu.Lock()
	if c.out.aead != nil && !c.out.queued {
		c.out.queued = true
		r.add(c)
	}
	c.wmu.Unlock()
}

// restTick is the rester's look at a queued connection: its writing AEAD
// goes unless it wrote since the last look. It reports whether to look
// again.
func (c *Conn) restTick() (again bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.out.used && c.out.aead != nil {
		c.out.used = false
		return true
	}
	c.out.aead, c.out.queued, c.out.used = nil, false, false
	return false
}

// Read reads application data.
func (c *Conn) Read(p []byte) (int, error) {
	for c.pe == c.ps {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if err := c.readRecord(); err != nil {
			return 0, err
		}
	}
	n := copy(p, (*c.buf)[c.ps:c.pe])
	c.ps += int32(n)
	c.releaseIfEmpty()
	return n, nil
}

func (c *Conn) releaseIfEmpty() {
	if c.buf != nil && c.pe == c.ps && c.off == c.end {
		putBuf(c.buf)
		c.buf, c.off, c.end = nil, 0, 0
	}
}

// fill reads from the socket until n bytes of records wait.
func (c *Conn) fill(n int) error {
	if c.buf == nil {
		c.buf, c.off, c.end = getBuf(n), 0, 0
	}
	if c.off+n > len(*c.buf) { // make room: nothing before off is needed (plain is empty)
		buf := c.buf
		if n > len(*buf) { // a record larger than the small buffer
			c.buf = getBuf(n)
		}
		c.end = copy(*c.buf, (*buf)[c.off:c.end])
		c.off = 0
		if buf != c.buf {
			putBuf(buf)
		}
	}
	for c.end-c.off < n {
		m, err := c.raw.Read((*c.buf)[c.end:])
		c.end += m
		if err != nil && c.end-c.off < n {
			c.releaseIfEmpty()
			if errors.Is(err, io.EOF) {
				if c.end > c.off {
					err = io.ErrUnexpectedEOF // inside a record
				}
				c.rerr = err
			} else if !isTimeout(err) {
				c.rerr = err
			}
			return err
		}
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readRecord reads and opens one record, and acts on what it holds.
func (c *Conn) readRecord() error {
	if err := c.fill(recordHeaderLen); err != nil {
		return err
	}
	hdr := (*c.buf)[c.off : c.off+recordHeaderLen]
	n := int(binary.BigEndian.Uint16(hdr[3:]))
	switch {
	case hdr[0] != typeAppData || hdr[1] != 3 || hdr[2] != 3:
		return c.fail(alertUnexpected, "unexpected record header %x", hdr)
	case n > maxCiphertext:
		return c.fail(alertOverflow, "record of %d bytes", n)
	case n < tagLen+1:
		return c.fail(alertDecode, "record of %d bytes", n)
	}
	if err := c.fill(recordHeaderLen + n); err != nil {
		return err
	}
	hdr = (*c.buf)[c.off : c.off+recordHeaderLen]
	body := (*c.buf)[c.off+recordHeaderLen : c.off+recordHeaderLen+n]
	if err := c.in.build(); err != nil {
		return c.fail(alertUnexpected, "%v", err)
	}
	nonce := c.in.nonce()
	plain, err := c.in.aead.Open(body[:0], nonce[:], body, hdr)
	if err != nil {
		return c.fail(alertBadMAC, "bad record MAC")
	}
	start := c.off + recordHeaderLen // of the opened content
	c.off += recordHeaderLen + n
	if err := c.in.next(); err != nil {
		return c.fail(alertUnexpected, "%v", err)
	}
	if len(plain) > maxPlaintext+1 { // content, type and padding (RFC 8446 § 5.4)
		return c.fail(alertOverflow, "record of %d bytes of plaintext", len(plain))
	}
	i := len(plain) - 1 // the content type, after the content, before zero padding
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 {
		return c.fail(alertUnexpected, "record without a content type")
	}
	typ, content := plain[i], plain[:i]
	if typ == typeAppData && len(content) > 0 {
		c.useless = 0
		c.ps, c.pe = int32(start), int32(start+len(content))
		return nil
	}
	if c.useless++; c.useless > maxUseless {
		return c.fail(alertUnexpected, "too many records without application data")
	}
	defer c.releaseIfEmpty()
	switch typ {
	case typeAppData:
		return nil
	case typeAlert:
		return c.alert(content)
	case typeHandshake:
		return c.handshake(content)
	}
	return c.fail(alertUnexpected, "record of content type %d", typ)
}

// alert acts on an alert from the client (RFC 8446 § 6).
func (c *Conn) alert(a []byte) error {
	switch {
	case len(a) != 2:
		return c.fail(alertDecode, "alert of %d bytes", len(a))
	case a[1] == alertClose:
		c.rerr = io.EOF
		return io.EOF
	case a[1] == alertCanceled: // a warning; close_notify follows
		return nil
	}
	c.rerr = fmt.Errorf("tlsrecord: remote error: alert %d", a[1])
	// a fatal alert ends the connection both ways: nothing more may be
	// sent on it (RFC 8446 § 6.2)
	c.wmu.Lock()
	if c.werr == nil {
		c.werr = c.rerr
	}
	c.wmu.Unlock()
	return c.rerr
}

// handshake acts on post-handshake messages: KeyUpdate only, whole in the
// record and alone in it. A KeyUpdate changes the key, so it must end its
// record (RFC 8446 § 5.1); several in one record would also let a client
// make the server derive keys and write answers without bound.
func (c *Conn) handshake(b []byte) error {
	if len(b) < 4 {
		return c.fail(alertUnexpected, "handshake message split across records")
	}
	n := 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3]))
	switch {
	case n > len(b):
		return c.fail(alertUnexpected, "handshake message split across records")
	case b[0] != msgKeyUpdate:
		return c.fail(alertUnexpected, "post-handshake message of type %d", b[0])
	case n != 5 || b[4] > 1:
		return c.fail(alertDecode, "malformed KeyUpdate")
	case n != len(b):
		return c.fail(alertUnexpected, "KeyUpdate not at the end of its record")
	}
	if err := c.in.update(); err != nil {
		return c.fail(alertUnexpected, "%v", err)
	}
	if b[4] == 1 { // update_requested: answer with ours, then use the new key
		if err := c.sendKeyUpdate(false); err != nil {
			c.rerr = err
			return err
		}
	}
	return nil
}

// sendKeyUpdate sends a KeyUpdate and moves the writing side to the next
// secret.
func (c *Conn) sendKeyUpdate(request bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var req byte
	if request {
		req = 1
	}
	if err := c.writeRecordsLocked(typeHandshake, []byte{msgKeyUpdate, 0, 0, 1, req}); err != nil {
		return err
	}
	if err := c.out.update(); err != nil {
		c.werr = err
		return err
	}
	return nil
}

// fail sends a fatal alert and makes the error sticky.
func (c *Conn) fail(alert byte, format string, args ...any) error {
	c.rerr = fmt.Errorf("tlsrecord: "+format, args...)
	c.wmu.Lock()
	c.writeRecordsLocked(typeAlert, []byte{2, alert})
	if c.werr == nil {
		c.werr = net.ErrClosed
	}
	c.wmu.Unlock()
	c.ps, c.pe, c.off, c.end = 0, 0, 0, 0
	c.releaseIfEmpty()
	return c.rerr
}

// Write sends p as application data.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeRecordsLocked(typeAppData, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeRecordsLocked protects p in records of content type typ and writes
// them, one socket write per record.
func (c *Conn) writeRecordsLocked(typ byte, p []byte) error {
	if c.werr != nil {
		return c.werr
	}
	if err := c.out.build(); err != nil {
		c.werr = err
		return err
	}
	c.out.used = true // the rester keeps the AEAD a tick more (RestWrite)
	buf := getBuf(recordHeaderLen + min(len(p), maxPlaintext) + 1 + tagLen)
	defer putBuf(buf)
	for len(p) > 0 { // an empty write sends nothing, as crypto/tls's
		chunk := p[:min(len(p), maxPlaintext)]
		p = p[len(chunk):]
		n := len(chunk) + 1 + tagLen
		rec := append((*buf)[:0], typeAppData, 3, 3, byte(n>>8), byte(n))
		rec = append(rec, chunk...)
		rec = append(rec, typ)
		nonce := c.out.nonce()
		rec = c.out.aead.Seal(rec[:recordHeaderLen], nonce[:], rec[recordHeaderLen:], rec[:recordHeaderLen])
		if err := c.out.next(); err != nil {
			c.werr = err
			return err
		}
		if _, err := c.raw.Write(rec); err != nil {
			c.werr = err // a record cut short cannot be followed by another
			return err
		}
	}
	return nil
}

// CloseWrite sends close_notify and shuts the socket's sending side.
func (c *Conn) CloseWrite() error {
	c.wmu.Lock()
	err := c.closeNotifyLocked()
	c.wmu.Unlock()
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		if err2 := cw.CloseWrite(); err == nil {
			err = err2
		}
	}
	return err
}

func (c *Conn) closeNotifyLocked() error {
	if c.werr != nil {
		return nil
	}
	c.raw.SetWriteDeadline(time.Now().Add(5 * time.Second)) // as crypto/tls's Close
	err := c.writeRecordsLocked(typeAlert, []byte{1, alertClose})
	c.werr = net.ErrClosed
	return err
}

// Close sends close_notify and closes the socket.
func (c *Conn) Close() error {
	c.wmu.Lock()
	c.closeNotifyLocked()
	c.wmu.Unlock()
	return c.raw.Close()
}

func (c *Conn) LocalAddr() net.Addr                { return c.raw.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr               { return c.raw.RemoteAddr() }
func (c *Conn) SetDeadline(t time.Time) error      { return c.raw.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.raw.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }
