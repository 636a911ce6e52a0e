package websocket

import "unicode/utf8"

// MaxSmallText is the largest payload SmallText takes: what fits a frame
// with a one-byte length.
const MaxSmallText = 125

// SmallText returns the payload of b, unmasked into dst (at least
// MaxSmallText bytes), if b is exactly one complete client frame holding a
// whole text message of at most MaxSmallText bytes (final, masked, no
// reserved bits, valid UTF-8), which ReadMessage would return as it is.
// Anything else (a control frame, a fragment, a longer or partial frame,
// bytes after it) is not: ok is false and the caller reads b the usual
// way. It lets a transport answer a lone heartbeat from one read without
// the framing's reader (issue 9), and leaves b as it was.
func SmallText(b, dst []byte) (payload []byte, ok bool) {
	if len(b) < 6 || b[0] != 0x80|OpText || b[1]&0x80 == 0 {
		return nil, false
	}
	n := int(b[1] & 0x7F)
	if n > MaxSmallText || len(b) != 6+n || len(dst) < n {
		return nil, false
	}
	payload = dst[:n]
	for i := range payload {
		payload[i] = b[6+i] ^ b[2+i&3]
	}
	if !utf8.Valid(payload) {
		return nil, false
	}
	return payload, true
}
