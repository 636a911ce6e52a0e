// Package websocket is the server side of RFC 6455 that presenced's
// WebSocket transports share (the JSON protocol's, and XMPP over WebSocket,
// RFC 7395): the opening handshake and the framing, written straight on the
// hijacked connection so an idle connection holds no buffer.
package websocket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Opcodes (RFC 6455 § 5.2).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// RFC 6455 § 7.4.1 close codes.
const (
	CloseNormal        = 1000
	CloseGoingAway     = 1001
	CloseProtocolError = 1002
	CloseUnsupported   = 1003
	CloseInvalidData   = 1007
	ClosePolicy        = 1008
	CloseTooBig        = 1009
	CloseInternal      = 1011
)

// CloseError ends a connection with a close code, sent to the peer.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("websocket close %d: %s", e.Code, e.Reason) }

func protocolError(format string, args ...any) error {
	return &CloseError{Code: CloseProtocolError, Reason: fmt.Sprintf(format, args...)}
}

// ErrPeerClosed: the peer sent a close frame (already answered).
var ErrPeerClosed = errors.New("peer closed")

// Control is called for ping and pong frames met while reading a message.
type Control func(op byte, payload []byte) error

// ReadMessage reads one text message from a client (masked frames,
// fragments reassembled), answering control frames through ctl. It keeps no
// buffer between messages, so an idle connection holds none.
func ReadMessage(r io.Reader, max int, ctl Control) ([]byte, error) {
	var msg []byte
	started := false
	for {
		var hdr [14]byte
		if _, err := io.ReadFull(r, hdr[:2]); err != nil {
			return nil, err
		}
		fin, op := hdr[0]&0x80 != 0, hdr[0]&0x0F
		if hdr[0]&0x70 != 0 {
			return nil, protocolError("reserved bits set without an extension")
		}
		if hdr[1]&0x80 == 0 {
			return nil, protocolError("client frames must be masked")
		}
		n := uint64(hdr[1] & 0x7F)
		switch n {
		case 126:
			if _, err := io.ReadFull(r, hdr[2:4]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(hdr[2:4]))
		case 127:
			if _, err := io.ReadFull(r, hdr[2:10]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(hdr[2:10])
			if n>>63 != 0 {
				return nil, protocolError("payload length has its top bit set")
			}
		}
		var mask [4]byte
		if _, err := io.ReadFull(r, mask[:]); err != nil {
			return nil, err
		}
		if op >= OpClose {
			if !fin || n > 125 {
				return nil, protocolError("control frames must be final and at most 125 bytes")
			}
			payload := make([]byte, n)
			if _, err := io.ReadFull(r, payload); err != nil {
				return nil, err
			}
			unmask(payload, mask)
			if op > OpPong {
				return nil, protocolError("unknown opcode %d", op)
			}
			if err := ctl(op, payload); err != nil {
				return nil, err
			}
			continue
		}
		switch {
		case op == OpBinary:
			return nil, &CloseError{Code: CloseUnsupported, Reason: "binary messages are not part of the protocol"}
		case op > OpBinary:
			return nil, protocolError("unknown opcode %d", op)
		case op == OpContinuation && !started:
			return nil, protocolError("continuation without a message")
		case op == OpText && started:
			return nil, protocolError("new message inside a fragmented one")
		}
		if uint64(len(msg))+n > uint64(max) {
			return nil, &CloseError{Code: CloseTooBig, Reason: fmt.Sprintf("messages are limited to %d bytes", max)}
		}
		started = true
		at := len(msg)
		msg = append(msg, make([]byte, n)...)
		if _, err := io.ReadFull(r, msg[at:]); err != nil {
			return nil, err
		}
		unmask(msg[at:], mask)
		if fin {
			if !utf8.Valid(msg) {
				return nil, &CloseError{Code: CloseInvalidData, Reason: "text message is not valid UTF-8"}
			}
			return msg, nil
		}
	}
}

func unmask(b []byte, mask [4]byte) {
	for i := range b {
		b[i] ^= mask[i&3]
	}
}

// AppendFrame appends one unmasked, final server frame to buf.
func AppendFrame(buf []byte, op byte, payload []byte) []byte {
	return append(appendHeader(buf, op, len(payload)), payload...)
}

// appendHeader appends the header of an unmasked, final frame of n bytes.
func appendHeader(buf []byte, op byte, n int) []byte {
	buf = append(buf, 0x80|op)
	switch {
	case n <= 125:
		return append(buf, byte(n))
	case n <= 0xFFFF:
		return append(buf, 126, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint64(append(buf, 127), uint64(n))
	}
}

// AppendFrameWith appends one unmasked, final server frame to buf whose
// payload payload appends (to the slice it is given), so a payload can be
// encoded straight into buf without a copy of its own.
func AppendFrameWith(buf []byte, op byte, payload func([]byte) []byte) []byte {
	const room = 4 // the header of a payload up to 64 KiB; moved if it is shorter or longer
	at := len(buf)
	buf = append(buf, make([]byte, room)...)
	buf = payload(buf)
	n := len(buf) - at - room
	var hdr [10]byte
	h := appendHeader(hdr[:0], op, n)
	switch {
	case len(h) < room:
		copy(buf[at+len(h):], buf[at+room:])
		buf = buf[:len(buf)-(room-len(h))]
	case len(h) > room:
		buf = append(buf, make([]byte, len(h)-room)...)
		copy(buf[at+len(h):], buf[at+room:at+room+n])
	}
	copy(buf[at:], h)
	return buf
}

// ClosePayload encodes a close frame's code and reason (at most 123 bytes).
func ClosePayload(code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	return append([]byte{byte(code >> 8), byte(code)}, reason...)
}
