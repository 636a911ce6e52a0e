// Package roomtoken checks the room tokens apps sign (docs/rooms.md): how
// an app that registered a room key says which of its users may join which
// room of its namespace. A room token is a JWT (RFC 7519) signed with the
// private half of the app's room key:
//
//	{"iss": "<the app's client_id>", "aud": "<this server's issuer URL>",
//	 "sub": "<the user's subject for the app: the ID token's sub>",
//	 "room": "<the room's name>", "exp": <seconds since 1970>}
//
// This package checks the signature, the issuer and the audience; the core
// decides whether the token lets a session into a room (core/roomtokens.go).
package roomtoken

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

// Algorithms are the signature algorithms a room token may use: one per
// kind of key. HMAC is not among them: the server keeps no secret of the
// app's that it could check one with (client secrets are kept hashed).
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}

// MaxKeySize bounds a room key's JSON (an RSA-4096 JWK is under 1 KiB).
const MaxKeySize = 4096

// ParseKey reads a room key: the public JSON Web Key (RFC 7517) of an
// ECDSA P-256, Ed25519 or RSA (2048 bits or more) key pair. A private key
// is refused, so that one pasted by mistake is not kept.
func ParseKey(raw []byte) (*jose.JSONWebKey, error) {
	if len(raw) > MaxKeySize {
		return nil, fmt.Errorf("room_key: at most %d bytes", MaxKeySize)
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("room_key: not a JSON Web Key: %v", err)
	}
	if !k.IsPublic() {
		return nil, errors.New("room_key: a private key; register the public half only, and keep the private key with the app")
	}
	switch pub := k.Key.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, errors.New("room_key: an EC key must be on P-256 (ES256)")
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return nil, errors.New("room_key: an RSA key must have 2048 bits or more")
		}
	default:
		return nil, errors.New("room_key: an EC P-256, Ed25519 or RSA public key is needed")
	}
	return &k, nil
}

// Verifier checks room tokens for this server: Audience returns its
// issuer URL (the server's public URL, known once it listens).
type Verifier struct {
	Audience func() string
}

// VerifyRoomToken checks token against app's room key (core.RoomTokenVerifier).
func (v Verifier) VerifyRoomToken(app store.App, token string) (core.RoomToken, error) {
	key, err := ParseKey(app.RoomKey)
	if err != nil {
		return core.RoomToken{}, err
	}
	tok, err := jwt.ParseSigned(token, Algorithms)
	if err != nil {
		return core.RoomToken{}, fmt.Errorf("not a JWT signed with ES256, EdDSA or RS256: %v", err)
	}
	var c struct {
		jwt.Claims
		Room string `json:"room"`
	}
	if err := tok.Claims(key, &c); err != nil {
		return core.RoomToken{}, errors.New("its signature does not verify with the app's room key")
	}
	switch {
	case c.Issuer != app.ID:
		return core.RoomToken{}, errors.New("iss must be the app's client_id")
	case !c.Audience.Contains(v.Audience()):
		return core.RoomToken{}, fmt.Errorf("aud must name this server, %s", v.Audience())
	case c.Expiry == nil:
		return core.RoomToken{}, errors.New("exp is missing: room tokens must expire")
	case c.Subject == "" || c.Room == "":
		return core.RoomToken{}, errors.New("sub and room are needed")
	}
	return core.RoomToken{Subject: c.Subject, Room: c.Room, Expires: c.Expiry.Time()}, nil
}
