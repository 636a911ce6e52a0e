// Package store defines the durable data of presenced behind small interfaces.
//
// Every backend (sqlite, the embedded default; postgres, for clusters) must pass the
// conformance suite in package storetest. Nothing here knows about sessions or
// live presence: those live in memory in package core.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns (wrapped or not) so callers can use errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConflict means a conditional write lost: the stored version differs.
	ErrConflict = errors.New("version conflict")
	// ErrLimit means the write would exceed a per-account limit.
	ErrLimit = errors.New("limit reached")
	// ErrStale means a write's precondition no longer holds (Token.Proof).
	ErrStale = errors.New("precondition no longer holds")
	// ErrSyncExpired means a sync position is older than the oldest change
	// the backend still remembers: the client must list everything again.
	ErrSyncExpired = errors.New("sync position expired")
	// ErrUnavailable means the backend could not be reached (a database
	// server down or restarting): nothing was written, and the same call
	// may succeed later.
	ErrUnavailable = errors.New("store unavailable")
)

// Store is the whole durable state of one deployment.
type Store interface {
	Accounts
	Tokens
	Contacts
	Graph
	PersonalEvents
	Lifecycle
	Apps
	Identities
	PushSubscriptions
	Offline
	Archive
	Rooms
	Secrets
	AuthRequests
	Close() error
}

// PersonalItem is the last item an account published on a topic of
// personal events (mood, activity, tune …; XEP-0163's PEP nodes).
type PersonalItem struct {
	Account   string
	Topic     string
	ItemID    string
	Data      string // the topic's JSON object (docs/personal-events.md)
	Published time.Time
}

// PersonalEvents keeps the last item of each topic of each account.
type PersonalEvents interface {
	// PutPersonalItem replaces the account's item on its topic; a topic the
	// account has no item on yet fails with ErrLimit once it has maxTopics.
	PutPersonalItem(ctx context.Context, it PersonalItem, maxTopics int) error
	// DeletePersonalItem removes the item on a topic, if any.
	DeletePersonalItem(ctx context.Context, account, topic string) error
	// PersonalItemsOf returns the items of the given accounts, by account
	// then topic.
	PersonalItemsOf(ctx context.Context, accounts []string) ([]PersonalItem, error)
}

// Account is a user on a domain.
type Account struct {
	Address      string // bare address, "alice@example.org"
	PasswordHash string // argon2id PHC string; never the password
	Scram        []ScramCredential
	CreatedAt    time.Time
	Invisible    bool      // appears offline to everyone
	LastSeen     time.Time // when the account last stopped appearing online; zero if never
}

// Accounts stores user accounts.
type Accounts interface {
	CreateAccount(ctx context.Context, a Account) error
	GetAccount(ctx context.Context, address string) (Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)
	// DeleteAccount removes the account and everything it owns or is part
	// of, in one transaction: its tokens, contacts and personal items, the
	// relations (pre-approvals included) in which it is subject or viewer,
	// the blocks and hidden entries it made and those naming it, its grants
	// and refresh tokens, its linked external identities, and the apps it
	// registered with their grants and tokens (other accounts' tokens of
	// those apps each logged as revoked).
	// An account created later at the address inherits none of it. With no
	// account at the address it fails with ErrNotFound and deletes nothing.
	DeleteAccount(ctx context.Context, address string) error
	// SetCredentials replaces the password hash and SCRAM credentials.
	// It deletes the account's tokens in the same transaction, each logged
	// as revoked: nothing signed in with the old password outlives it.
	SetCredentials(ctx context.Context, address, hash string, scram []ScramCredential) error
	SetInvisible(ctx context.Context, address string, invisible bool) error
	SetLastSeen(ctx context.Context, address string, t time.Time) error
	// SetLastSeenOf sets the last-seen time of many accounts in one
	// transaction (a node shutting down with thousands online); addresses
	// without an account are passed over.
	SetLastSeenOf(ctx context.Context, addresses []string, t time.Time) error
}

// ScramCredential is what a server keeps to check a SCRAM login (RFC 5802
// § 3): enough to verify a client's proof, never enough to log in.
type ScramCredential struct {
	Mechanism  string `json:"mechanism"` // "SCRAM-SHA-1", "SCRAM-SHA-256"
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// Token is a bearer credential. Only a hash of the secret is stored.
type Token struct {
	ID        string // public identifier, safe to show and to revoke by
	Hash      []byte // SHA-256 of the secret
	Account   string
	Label     string // "web", "cli", a device name …
	CreatedAt time.Time
	ExpiresAt time.Time
	// Proof, when set, is the account's password hash that the sign-in
	// issuing the token verified: CreateToken then creates it only while
	// that is still the account's hash, and fails with ErrStale otherwise
	// (the password changed during the sign-in). Not stored.
	Proof string
	// App is set on an app's access token (apps.go): the app it was
	// issued to, the Scopes granted to it, and the Family of refresh
	// tokens it came from ("" if none).
	App    string
	Scopes []string
	Family string
}

// Tokens stores bearer tokens.
type Tokens interface {
	// CreateToken stores t. An app's access token (App set) is created
	// only while the account's grant to that app exists, and fails with
	// ErrNotFound otherwise: a token minted while the grant was being
	// revoked cannot outlive the revocation.
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash and TokenByID return a token until it is deleted, an
	// expired one too (the store has no clock: callers compare ExpiresAt
	// with theirs, and DeleteExpiredTokens sweeps); ErrNotFound if none.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	TokenByID(ctx context.Context, id string) (Token, error)
	ListTokens(ctx context.Context, account string) ([]Token, error)
	// DeleteToken revokes a token of account; ErrNotFound if it has none by that id.
	DeleteToken(ctx context.Context, account, id string) error
	// DeleteTokens revokes every token of account in one transaction, each
	// logged as revoked, and returns how many there were.
	DeleteTokens(ctx context.Context, account string) (int, error)
	// DeleteExpiredTokens deletes the tokens expired at now, each logged as
	// revoked (LifecycleTokenRevoked) in the same transaction, so that the
	// sessions opened with them end, and returns how many. It deletes the
	// refresh tokens expired at now too, logging and counting none: no
	// session runs on a refresh token.
	DeleteExpiredTokens(ctx context.Context, now time.Time) (int, error)
}

// Contact is an entry of a user's private address book.
type Contact struct {
	ID      string
	Owner   string
	Name    string
	Emails  []string
	Phones  []string
	Notes   string
	Groups  []string
	Address string // optional presence address ("bob@example.org")
	// Version is the HTTP ETag (REST and CardDAV): the store sets it to the
	// position of the contact's last write (see ContactChanges), so it
	// increases on every write and never names two states of one ID, not
	// even of a contact deleted and created again under the same ID.
	Version int64
	Updated time.Time
	// Card is the vCard the contact was last written as over CardDAV or
	// imported from: its unfolded content lines between BEGIN and END,
	// CRLF-separated, so that properties presenced does not interpret
	// survive (package vcard merges it with the fields above). Empty for a
	// contact made from fields alone.
	Card string
}

// ContactChange is an entry of an address book's change list: a contact
// written (its current version) or deleted after a sync position.
type ContactChange struct {
	ID      string
	Version int64 // 0 for a deletion
	Deleted bool
}

// ContactQuery filters a contact listing. Empty fields match everything.
type ContactQuery struct {
	Text  string // substring of name, e-mails, phones, address, notes (case-insensitive)
	Group string
	// Address: only the cards whose presence address is exactly this one
	// (addresses are stored as core.ValidateContact normalises them). An
	// XMPP roster item is the card(s) with the item's address: a backend
	// answers this from an index, without reading the whole address book.
	Address string
}

// Contacts stores address books.
type Contacts interface {
	// CreateContacts inserts contacts (IDs set by the caller) in one
	// transaction, unless that would make the owner hold more than max, and
	// sets each cs[i].Version to the version stored.
	CreateContacts(ctx context.Context, owner string, cs []Contact, max int) error
	GetContact(ctx context.Context, owner, id string) (Contact, error)
	ListContacts(ctx context.Context, owner string, q ContactQuery) ([]Contact, error)
	CountContacts(ctx context.Context, owner string) (int, error)
	// UpdateContact replaces c (Card included) if the stored version equals
	// ifVersion (0: any) and returns the new version.
	UpdateContact(ctx context.Context, c Contact, ifVersion int64) (int64, error)
	// DeleteContact removes a contact if its version is ifVersion (0: any)
	// and remembers the deletion for ContactChanges, keeping at most
	// tombstones deletions per owner (0: no bound); forgetting older ones
	// makes the positions before them expire.
	DeleteContact(ctx context.Context, owner, id string, ifVersion int64, tombstones int) error
	// ContactChanges lists the contacts of owner written or deleted after
	// the sync position since, in no particular order, one entry per
	// contact, and returns the book's position now. since 0 lists every
	// contact (and no deletion). A position older than the oldest
	// remembered deletion, above the book's position, or not from this
	// owner's book, fails with ErrSyncExpired. A book's position moves with
	// every write of that book and with nothing else (it tells its owner
	// nothing of other books), and is never reused, not even by an account
	// created again at the same address.
	ContactChanges(ctx context.Context, owner string, since int64) ([]ContactChange, int64, error)
}

// State is how far a viewer's permission to see a subject's presence got.
type State int

const (
	None     State = iota // no request, no permission
	Pending               // the viewer asked, the subject has not answered
	Approved              // the subject approved the viewer
	// Declined: the subject said no. The viewer still sees its request as
	// pending, so a refusal tells it nothing a silent account would not.
	Declined
)

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Approved:
		return "approved"
	case Declined:
		return "declined"
	}
	return "none"
}

// Relation is the directed permission edge "Viewer may see Subject's presence".
// The RFC 6121 subscription states of a pair are derived from the two edges.
type Relation struct {
	Subject     string
	Viewer      string
	State       State
	PreApproved bool // the subject approved in advance: a request will be granted at once
}

// Graph stores who may see whom: relations, blocks and hide-from settings.
type Graph interface {
	// GetRelation returns the edge, or a zero Relation with State None.
	GetRelation(ctx context.Context, subject, viewer string) (Relation, error)
	// PutRelation stores the edge; an edge with State None and no
	// pre-approval is deleted. It is a blind write, checks no limit and
	// serialises with nothing: it is for seeding data (tests, tools);
	// changes to a pair go through EditPair.
	PutRelation(ctx context.Context, r Relation) error
	// EditPair atomically reads the two edges between actor and other — mine,
	// "actor may see other" (Subject=other, Viewer=actor), and theirs, "other
	// may see actor" (Subject=actor, Viewer=other) —, lets change rewrite them,
	// and stores what changed (an edge with State None and no pre-approval is
	// deleted). It returns both edges as they were before the change. If the
	// change would exceed lim it fails with ErrLimit and writes nothing.
	//
	// It is the way to change a pair: concurrent EditPair calls on the same
	// pair (from either side, from any process sharing the store) serialise,
	// each change seeing the edges the one before it stored, so none is lost;
	// and the limits hold under concurrency: edits of different pairs cannot
	// together take an account past one.
	// change gets the stored edges (absent ones as zero Relations with State
	// None and Subject and Viewer set); its changes to Subject or Viewer are
	// ignored. It runs inside the write, so it must be quick and must not call
	// the store; and it must depend only on the edges it is given, for a
	// backend may call it more than once (retrying a transaction that lost a
	// serialisation conflict) and stores only the last call's result.
	// actor and other must differ.
	EditPair(ctx context.Context, actor, other string, lim RelationLimits, change func(mine, theirs *Relation)) (mine, theirs Relation, err error)
	// RelationsOf lists every edge in which address is subject or viewer.
	RelationsOf(ctx context.Context, address string) ([]Relation, error)
	// ApprovedBy lists, for every subject that approved viewer, the facts the
	// privacy policy needs about that subject, in one query.
	ApprovedBy(ctx context.Context, viewer string) ([]SubjectFacts, error)
	// FactsOf reads what an account needs when it comes online (AccountFacts)
	// in one read of one consistent state: each part is what the method
	// named beside it would return at that moment.
	FactsOf(ctx context.Context, address string) (AccountFacts, error)

	// Block adds blocked to blocker's block list. A new entry fails with
	// ErrLimit, writing nothing, when the list already holds max entries (0:
	// no limit); re-adding an entry it holds succeeds and changes nothing.
	// The count and the insert are one atomic step: concurrent Blocks cannot
	// together take a list past max. shown is the last-seen of blocker that
	// blocked is shown while the entry holds (ListEntry); re-adding an entry
	// keeps the first.
	Block(ctx context.Context, blocker, blocked string, shown time.Time, max int) error
	// Unblock removes the entry, if any.
	Unblock(ctx context.Context, blocker, blocked string) error
	ListBlocks(ctx context.Context, blocker string) ([]string, error)
	// PrivacyLists returns owner's block list and the list of those it
	// hides from, each ordered by address, in one read.
	PrivacyLists(ctx context.Context, owner string) (blocks, hidden []ListEntry, err error)

	// Hide adds viewer to the list of those subject hides from, bounded by
	// max and with shown as Block is.
	Hide(ctx context.Context, subject, viewer string, shown time.Time, max int) error
	// Unhide removes the entry, if any.
	Unhide(ctx context.Context, subject, viewer string) error
	ListHidden(ctx context.Context, subject string) ([]string, error)
}

// RelationLimits bound the rows that one account holds or makes another hold,
// so that requests to any address, existing or not, cannot grow without bound.
// Zero fields mean no limit.
//
// Counts are taken as they would be after the change, over all stored edges
// (the pair's included), and bound every account of a checked edge: a change
// fails when any such count would exceed its limit.
type RelationLimits struct {
	// Requests: edges in state Pending or Declined, counted per viewer (requests
	// it made) and, separately, per subject (requests it received); plus
	// pre-approvals, counted per subject. Checked only for an edge that enters
	// one of those states in this change.
	//
	// These are three separate counts, each bounded by Requests: an edge whose
	// State becomes Pending or Declined from a state that is neither bounds
	// the requests its viewer made and those its subject received; an edge
	// whose PreApproved becomes true bounds its subject's pre-approvals
	// (edges with PreApproved set, whatever their State).
	Requests int
	// Relations: rows an account is in, as subject or viewer. Checked only when
	// the change creates a row (an edge that was absent, State None and not
	// pre-approved, is stored), for both its subject and its viewer.
	Relations int
}

// SubjectFacts is what a viewer's snapshot needs about a subject that
// approved it.
type SubjectFacts struct {
	Subject   string
	Blocked   bool // the subject blocks the viewer
	Hidden    bool // the subject hides from the viewer
	Invisible bool
	LastSeen  time.Time
	Shown     time.Time // when Blocked or Hidden: the entry's Shown (the block's, if both)
}

// AccountFacts is what an account's sessions start from (Graph.FactsOf):
// its graph, its privacy lists and grants, who approved it and the
// personal items it may be shown.
type AccountFacts struct {
	Relations      []Relation     // RelationsOf(address)
	Blocks, Hidden []ListEntry    // PrivacyLists(address)
	Grants         []Grant        // ListGrants(address)
	Approvers      []SubjectFacts // ApprovedBy(address)
	// Items are PersonalItemsOf the account and of every subject in
	// Approvers.
	Items []PersonalItem
}

// ListEntry is an entry of a block list or of the list of those an owner
// hides from. Shown is the owner's last-seen as the entry's viewer saw it
// when the entry was made (the moment itself if the owner was online to
// it), which it goes on seeing while the entry holds: to it, the owner
// simply signed out then. Zero shows none.
type ListEntry struct {
	Address string
	Shown   time.Time
}

// Lifecycle kinds.
const (
	LifecycleDeleted      = "deleted"       // the account is gone
	LifecyclePassword     = "password"      // its credentials changed
	LifecycleTokenRevoked = "token_revoked" // one of its tokens was revoked (TokenID)
	// LifecycleGrant: one of its grants to apps was made, changed or
	// revoked (PutGrant, DeleteGrant): what its apps' sessions may see
	// changes, and what others' see of it in an app (per-app visibility).
	LifecycleGrant = "grant"
	// LifecycleFacts: a fact the presence policy reads about the account
	// changed: a relationship (EditPair: Relations names the pair's two
	// edges as written), a block or hide entry (Block, Unblock, Hide,
	// Unhide: Relations holds one edge, Subject the owner, Viewer the
	// entry, State empty) or its invisibility (SetInvisible: no Relations).
	// What the accounts' live users hold in memory on other processes must
	// be read again from the store: the logged edges only name the accounts.
	LifecycleFacts = "facts"
)

// LifecycleEvent is a change of an account's rights that live sessions must hear.
type LifecycleEvent struct {
	ID      int64 // increasing in commit order
	Kind    string
	Account string
	TokenID string // for LifecycleTokenRevoked
	At      time.Time
	// Relations: for LifecycleDeleted, the edges the account was in (in
	// either role) as the deletion found them. They go with the account, and
	// the counterparts' live sessions must still be told that their
	// relationship ended: this is the only place left that says which. For
	// LifecycleFacts, the edges that name the accounts the change touched.
	Relations []Relation
}

// LifecycleWatcher is a Lifecycle that can tell when its log may have
// grown, by this process or another, more cheaply than reading it: an idle
// server then does not query the store several times a second for nothing
// (issue 9: idle CPU).
type LifecycleWatcher interface {
	// WatchLifecycle returns a channel that receives a signal (one waits
	// at most: signals coalesce) once the log may have grown since the
	// last; it may signal when nothing changed, never stay silent after a
	// change. It looks about every interval where it must look, and
	// signals at least every fallback whatever it heard (what a missed
	// notification costs at most). It stops when ctx ends.
	WatchLifecycle(ctx context.Context, interval, fallback time.Duration) <-chan struct{}
}

// Lifecycle is the log of those changes: DeleteAccount, SetCredentials,
// DeleteToken, PutGrant, DeleteGrant, EditPair, Block, Unblock, Hide,
// Unhide and SetInvisible append to it in the same transaction as the
// change (a write that changes nothing logs nothing), so every process
// sharing the store (the server, the CLI, cluster nodes) hears them.
// PutRelation, for seeding, logs nothing.
// DeleteAccount logs the relations it deletes with the event.
type Lifecycle interface {
	// LifecycleSince returns up to limit events with ID > after, oldest first.
	LifecycleSince(ctx context.Context, after int64, limit int) ([]LifecycleEvent, error)
	// LastLifecycleID is the newest event's ID, 0 if none: where a starting
	// server begins listening.
	LastLifecycleID(ctx context.Context) (int64, error)
	// PruneLifecycle deletes events older than before (never the newest).
	PruneLifecycle(ctx context.Context, before time.Time) (int, error)
}
