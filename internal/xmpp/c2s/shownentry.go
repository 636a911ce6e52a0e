package c2s

// The packed entry of a shownSet (events.go). Every idle stream holds one
// per contact online (20 for a roster of 20): two strings took 32 bytes,
// this takes 24, the two strings' pointers and their lengths as 32-bit
// numbers. It uses unsafe because the safe ways are not as small or not
// exact: a hash of the address in place of the address needs the address
// anyway to tell two contacts whose hashes collide apart (or a collision
// would hide or show a resource wrongly), and unique.Handle interns every
// contact in a process-wide table whose entry costs more than it saves.
//
// The pointers keep the strings' bytes alive (Go strings are immutable and
// the collector follows pointers into them), so an entry is exactly the
// two strings it was made of.

import (
	"errors"
	"math"
	"unsafe"
)

type shownEntry struct {
	contact    *byte // unsafe.StringData of the contact's address
	resources  *byte // … of its resources, joined by NUL
	clen, rlen uint32
}

// errShownTooLarge ends a stream told of a contact whose address or
// resources exceed 4 GiB, which an entry cannot hold: unreachable (an
// address is at most 3071 bytes by RFC 7622, the resources of an account
// are bounded by its sessions, each at most a stanza), but a stream ends
// rather than forget what it showed.
var errShownTooLarge = errors.New("xmpp: contact's shown resources too large to record")

func newShownEntry(contact, resources string) (shownEntry, error) {
	if len(contact) > math.MaxUint32 || len(resources) > math.MaxUint32 {
		return shownEntry{}, errShownTooLarge
	}
	return shownEntry{unsafe.StringData(contact), unsafe.StringData(resources), uint32(len(contact)), uint32(len(resources))}, nil
}

func (e shownEntry) contactAddress() string { return unsafe.String(e.contact, int(e.clen)) }

func (e shownEntry) resourceList() string { return unsafe.String(e.resources, int(e.rlen)) }
