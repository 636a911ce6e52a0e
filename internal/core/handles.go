package core

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// Pairwise handles (DESIGN § 3 rule 4, docs/apps.md): an app sees its user
// and their contacts only as handles made for it. A handle is an HMAC of
// (app, holder, other) under a key derived from the server secret: stable
// across sessions and token refreshes, different for every app and every
// holder (two apps, or two users of one app, cannot join what they hold),
// and resolvable only here, by recomputing it for the holder's granted
// contacts (Hub.resolve). The holder's handle of itself is the subject of
// its ID tokens for that app.

// Handles makes pairwise handles under one key.
type Handles struct{ key [32]byte }

// NewHandles derives the handle key from the server's secret; a nil secret
// makes a random one (handles then change on restart: tests only).
func NewHandles(secret []byte) *Handles {
	if secret == nil {
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	// the purpose string is the one the first ID tokens' subjects were
	// made with: changing it would change every app's view of its users
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("presenced oauth: pairwise handles"))
	var hs Handles
	copy(hs.key[:], m.Sum(nil))
	return &hs
}

const (
	handlePrefix = "h"
	handleChars  = 26 // base32 characters: 130 bits
)

// Of is the handle by which holder's sessions in app know other; holder's
// own handle when other is holder.
func (hs *Handles) Of(app, holder, other string) string {
	m := hmac.New(sha256.New, hs.key[:])
	m.Write([]byte(app))
	m.Write([]byte{0})
	m.Write([]byte(holder))
	if other != holder {
		// NUL never occurs in an address, so the two shapes cannot collide
		m.Write([]byte{0})
		m.Write([]byte(other))
	}
	return handlePrefix + strings.ToLower(base32.StdEncoding.EncodeToString(m.Sum(nil))[:handleChars])
}

// IsHandle reports whether s has the shape of a handle; whether it names
// anyone is for the holder's grant to say.
func IsHandle(s string) bool {
	if len(s) != len(handlePrefix)+handleChars || !strings.HasPrefix(s, handlePrefix) {
		return false
	}
	for _, c := range s[len(handlePrefix):] {
		if !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}
