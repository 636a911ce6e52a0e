package wire

import (
	"context"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

// Offline delivery and history in the JSON protocol (docs/offline.md).

// offlineFrame is a message stored while the recipient was away: a
// message frame with the store's ID of it, to acknowledge.
type offlineFrame struct {
	Type   string    `json:"type"` // "offline"
	Seq    uint64    `json:"seq"`
	Stored int64     `json:"offline_id"`
	ID     string    `json:"id,omitempty"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Body   string    `json:"body"`
	Sent   time.Time `json:"sent"`
}

func storedEvent(d core.Delivery, ev core.MessageEvent) []byte {
	m := ev.Message
	return mustJSON(offlineFrame{Type: "offline", Seq: d.Seq, Stored: ev.Stored, ID: m.ID, From: m.From, To: m.To, Body: m.Body, Sent: m.Sent})
}

// HistoryJSON is one message of the user's history.
type HistoryJSON struct {
	Archive  int64     `json:"archive"` // its place in the history: what after and before name
	ID       string    `json:"id,omitempty"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	With     string    `json:"with"`
	Outgoing bool      `json:"outgoing"`
	Body     string    `json:"body"`
	Sent     time.Time `json:"sent"`
}

// History converts stored history.
func History(ms []store.ArchivedMessage) []HistoryJSON {
	return convert(ms, func(m store.ArchivedMessage) HistoryJSON {
		return HistoryJSON{Archive: m.Seq, ID: m.ID, From: m.From, To: m.To, With: m.With, Outgoing: m.Outgoing, Body: m.Body, Sent: m.Sent}
	})
}

type historyFrame struct {
	Type     string        `json:"type"` // "history"
	ID       string        `json:"id,omitempty"`
	Messages []HistoryJSON `json:"messages"`
	Complete bool          `json:"complete"`
}

// MaxAck bounds the stored IDs one offline_ack names.
const MaxAck = 256

// offlineOps answers the frames of offline delivery and history; ok is
// false for other frames.
func (c *Conn) offlineOps(ctx context.Context, f ClientFrame) (reply []byte, ok bool, err error) {
	s := c.Session
	switch f.Type {
	case "offline_ack":
		if len(f.OfflineIDs) == 0 || len(f.OfflineIDs) > MaxAck {
			return nil, true, core.Errorf(core.CodeInvalid, "offline_ids must list 1 to %d IDs", MaxAck)
		}
		return nil, true, s.AckStored(ctx, f.OfflineIDs)
	case "history":
		q := store.ArchiveQuery{With: f.With, After: f.After, Before: f.Before, Last: f.Last, Max: f.Max}
		if f.Max < 0 || f.Max > core.MaxHistoryPage {
			return nil, true, core.Errorf(core.CodeInvalid, "max must be 1 to %d", core.MaxHistoryPage)
		}
		if f.Start != nil {
			q.Start = *f.Start
		}
		if f.End != nil {
			q.End = *f.End
		}
		page, complete, err := s.History(ctx, q)
		if err != nil {
			return nil, true, err
		}
		return mustJSON(historyFrame{Type: "history", ID: f.ID, Messages: History(page), Complete: complete}), true, nil
	}
	return nil, false, nil
}
