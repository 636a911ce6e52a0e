package core

import (
	"context"

	"github.com/presenced/presenced/internal/store"
)

// History (docs/offline.md): a user's own 1-1 text messages, sent and
// received, kept for Config.Offline.HistoryTTL (at most HistoryMax per
// user), queried page by page from any of the user's first-party sessions
// (XEP-0313 over XMPP, the history frame in the JSON protocol). Each user
// can turn theirs off and erase it. A message is archived once the send
// succeeded (delivered or stored), a copy for each party whose history is on.

// archive keeps m, sent by s to bare, in both parties' histories.
func (h *Hub) archive(s *Session, m Message, bare string) {
	if !storable(m) || bare == s.Account {
		return
	}
	a := store.ArchivedMessage{From: m.From, To: m.To, ID: m.ID, Type: m.Type, Body: m.Body, Sent: m.Sent}
	mine, theirs := a, a
	mine.Owner, mine.With, mine.Outgoing = s.Account, bare, true
	theirs.Owner, theirs.With = bare, s.Account
	h.archiveCopies(s.Account, mine, theirs)
}

// archiveReceived keeps m, sent by sender (an account of another domain,
// whose history is its server's business) to the local account bare, in
// bare's history.
func (h *Hub) archiveReceived(sender string, m Message, bare string) {
	if !storable(m) {
		return
	}
	h.archiveCopies(sender, store.ArchivedMessage{Owner: bare, With: sender, From: m.From, To: m.To, ID: m.ID, Type: m.Type, Body: m.Body, Sent: m.Sent})
}

func (h *Hub) archiveCopies(sender string, copies ...store.ArchivedMessage) {
	if err := h.store.ArchiveMessages(context.Background(), copies, h.cfg.Offline.HistoryMax); err != nil {
		h.log.Error("archive a message", "from", sender, "err", err)
	}
}

// MaxHistoryPage bounds one page of history.
const MaxHistoryPage = 100

// History returns a page of the session's account's history, oldest
// first, and whether it is the last page in its direction. Only
// first-party sessions read history: an app's would see addresses its
// grant may not cover.
func (s *Session) History(ctx context.Context, q store.ArchiveQuery) ([]store.ArchivedMessage, bool, error) {
	if !s.channel.FirstParty() {
		return nil, false, Errorf(CodeForbidden, "history is for the user's own clients")
	}
	return s.hub.History(ctx, s.Account, q)
}

// History is Session.History for account (the REST API).
func (h *Hub) History(ctx context.Context, account string, q store.ArchiveQuery) ([]store.ArchivedMessage, bool, error) {
	if q.Max <= 0 || q.Max > MaxHistoryPage {
		q.Max = MaxHistoryPage
	}
	if q.After < 0 || q.Before < 0 {
		return nil, false, Errorf(CodeInvalid, "after and before are archive IDs")
	}
	return h.store.QueryArchive(ctx, account, q)
}

// SetHistory turns account's history on or off; off keeps what it holds.
func (h *Hub) SetHistory(ctx context.Context, account string, on bool) error {
	return h.store.SetArchiving(ctx, account, on)
}

// HistoryOn reports whether account's history is kept.
func (h *Hub) HistoryOn(ctx context.Context, account string) (bool, error) {
	return h.store.Archiving(ctx, account)
}

// EraseHistory deletes account's whole history.
func (h *Hub) EraseHistory(ctx context.Context, account string) (int, error) {
	return h.store.EraseArchive(ctx, account)
}
