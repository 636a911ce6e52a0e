package store

import (
	"context"
	"time"
)

// StoredMessage is a message kept for an account that had no session to
// take it (offline delivery, docs/offline.md), until a session of the
// account acknowledges it or it expires.
type StoredMessage struct {
	Seq     int64  // assigned by the store, increasing: what acknowledgements name
	Account string // the recipient's bare address
	Sender  string // the sender's bare address: with ID, what de-duplicates
	From    string // the sending session's full address
	ID      string // the sender's message ID ("": none, never a duplicate)
	Type    string // chat, normal ("" is chat)
	Body    string
	Payload string // XML extension elements an XMPP sender attached
	Sent    time.Time
	Expires time.Time
}

// Size is what a stored message counts against its account's bytes.
func (m StoredMessage) Size() int { return len(m.Body) + len(m.Payload) }

// StoredLimits bound one account's queue of stored messages. Zero fields
// mean no limit.
type StoredLimits struct {
	Count int
	Bytes int
}

// Offline keeps messages for accounts that had no session to take them.
type Offline interface {
	// PutStored stores m for m.Account and returns its Seq. When the
	// account already holds a message of the same Sender with the same
	// non-empty ID and the same Body and Payload (a resend), it stores
	// nothing and returns that one's Seq with stored false; a different
	// message that reuses an ID (clients number their requests per
	// connection) is stored. A message that would take the account's queue past
	// lim fails with ErrLimit, one for an account that does not exist
	// with ErrNotFound; the count and the insert are one atomic step.
	PutStored(ctx context.Context, m StoredMessage, lim StoredLimits) (seq int64, stored bool, err error)
	// StoredFor lists up to limit of the account's messages not expired
	// at now, oldest first.
	StoredFor(ctx context.Context, account string, now time.Time, limit int) ([]StoredMessage, error)
	// DeleteStored deletes the account's messages with these Seqs (others'
	// are left alone) and returns how many it deleted.
	DeleteStored(ctx context.Context, account string, seqs []int64) (int, error)
	// DeleteExpiredStored deletes every message expired at now.
	DeleteExpiredStored(ctx context.Context, now time.Time) (int, error)
}

// ArchivedMessage is one 1-1 message in an account's history (XEP-0313
// message archive management; docs/offline.md): a copy per party.
type ArchivedMessage struct {
	Seq      int64  // assigned by the store, increasing: the archive's ID
	Owner    string // whose history it is
	With     string // the other party's bare address
	Outgoing bool   // Owner sent it
	From     string // full address of the sending session
	To       string // the address it was sent to
	ID       string // the sender's message ID
	Type     string
	Body     string
	Sent     time.Time
}

// ArchiveQuery selects a page of an account's history, in the order kept
// (oldest first). After and Before are exclusive Seqs (0: unbounded);
// Last asks for the newest page (the last Max messages matching) rather
// than the oldest. Max is the page size.
type ArchiveQuery struct {
	With       string    // "": every party
	Start, End time.Time // zero: unbounded; Sent within [Start, End]
	After      int64
	Before     int64
	Last       bool
	Max        int
}

// Archive keeps accounts' 1-1 history.
type Archive interface {
	// ArchiveMessages appends ms, each to its Owner's history unless the
	// owner turned it off (SetArchiving), then trims each owner's
	// history to its newest maxPerOwner (0: unbounded).
	ArchiveMessages(ctx context.Context, ms []ArchivedMessage, maxPerOwner int) error
	// QueryArchive returns a page of owner's history, oldest first, and
	// whether it reaches the end of what matches in its direction (the
	// oldest for Last or Before, the newest otherwise).
	QueryArchive(ctx context.Context, owner string, q ArchiveQuery) (page []ArchivedMessage, complete bool, err error)
	// EraseArchive deletes owner's whole history.
	EraseArchive(ctx context.Context, owner string) (int, error)
	// DeleteArchivedBefore deletes every message sent before t.
	DeleteArchivedBefore(ctx context.Context, t time.Time) (int, error)
	// SetArchiving turns owner's history on or off (on by default);
	// turning it off keeps what it holds (EraseArchive erases).
	SetArchiving(ctx context.Context, owner string, on bool) error
	// Archiving reports whether owner's history is kept.
	Archiving(ctx context.Context, owner string) (bool, error)
}
