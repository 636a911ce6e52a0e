package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"
)

// CheckUpgrade validates an RFC 6455 § 4.2.1 opening handshake; on failure
// it returns the HTTP status and message to answer with.
func CheckUpgrade(r *http.Request) (key string, status int, msg string) {
	switch {
	case r.Method != http.MethodGet:
		return "", http.StatusMethodNotAllowed, "websocket upgrade needs GET"
	case !HeaderHas(r.Header, "Connection", "upgrade") || !HeaderHas(r.Header, "Upgrade", "websocket"):
		return "", http.StatusUpgradeRequired, "this endpoint speaks WebSocket only"
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return "", http.StatusUpgradeRequired, "unsupported WebSocket version; use 13"
	}
	key = r.Header.Get("Sec-WebSocket-Key")
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
		return "", http.StatusBadRequest, "bad Sec-WebSocket-Key"
	}
	return key, 0, ""
}

// HeaderHas reports whether a comma-separated header holds token.
func HeaderHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Accept is the 101 response to a handshake with key, naming proto as the
// subprotocol unless it is empty.
func Accept(key, proto string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(h[:]) + "\r\n"
	if proto != "" {
		resp += "Sec-WebSocket-Protocol: " + proto + "\r\n"
	}
	return resp + "\r\n"
}
