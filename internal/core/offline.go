package core

import (
	"context"
	"errors"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Offline delivery (docs/offline.md). A text message that reaches no
// session of its recipient — none online, or none available — is kept in
// the store and delivered when a session of the recipient becomes
// available (XMPP: after its initial presence, XEP-0160; JSON: the hello's
// presence or its first presence frame), over any protocol, until a
// session acknowledges it or it expires.
//
// Where it sits: the fallback of the delivery path, in Send, after the
// router reports that nothing took the message. It is not a Router: a
// Router is called under the subject's lock and must not block, while
// storing is durable I/O whose outcome (stored, or the recipient's queue is
// full) the sender must hear. So Send unlocks, asks the policy again
// with the recipient's facts from the store (the same Allow(FlowMessage),
// on the sender's channel: an app's grant must cover the recipient), and
// only then stores and wakes a device (wake.go). A refused sender gets
// exactly the unavailable of a message to nobody.
//
// Only text messages are stored: chat and normal ones with a body (RFC
// 6121 § 8.5.2.2 and XEP-0160). Signals, iqs, headlines, errors and
// bodiless messages (chat states, receipts) are ephemeral: they fail or
// vanish as before.

// OfflineConfig bounds what is kept for offline accounts, and for how long.
type OfflineConfig struct {
	TTL      time.Duration // how long a stored message waits
	Messages int           // stored messages per account
	Bytes    int           // their bodies' (and XMPP payloads') bytes per account
	// History: a user's own 1-1 messages (archive.go).
	HistoryTTL time.Duration
	HistoryMax int // messages kept per account
}

// DefaultOffline is used for the zero fields of Config.Offline.
var DefaultOffline = OfflineConfig{TTL: 30 * 24 * time.Hour, Messages: 1000, Bytes: 4 << 20, HistoryTTL: 30 * 24 * time.Hour, HistoryMax: 10000}

func (c OfflineConfig) withDefaults() OfflineConfig {
	d := DefaultOffline
	if c.TTL > 0 {
		d.TTL = c.TTL
	}
	if c.Messages > 0 {
		d.Messages = c.Messages
	}
	if c.Bytes > 0 {
		d.Bytes = c.Bytes
	}
	if c.HistoryTTL > 0 {
		d.HistoryTTL = c.HistoryTTL
	}
	if c.HistoryMax > 0 {
		d.HistoryMax = c.HistoryMax
	}
	return d
}

// Sent is what a send did.
type Sent struct {
	Sessions int  // sessions it reached now
	Stored   bool // no session took it: it waits for the recipient's next one
}

// storable: a message kept for later is a text message (chat or normal).
func storable(m Message) bool {
	return m.Kind == KindMessage && m.Body != "" && (m.Type == "" || m.Type == TypeChat || m.Type == TypeNormal)
}

// errQueueFull is the one answer a sender allowed to reach the recipient
// gets when the recipient's stored messages are at their limit: it learns
// that the recipient has been away long enough, which its presence told it.
var errQueueFull = Errorf(CodeLimit, "the recipient has too many messages waiting; try later")

// keep is Send's fallback: m reached no session of its recipient, bare.
// It decides with the policy on what the store holds, stores, offers the
// message to sessions that became available meanwhile and wakes a device.
// The caller holds no lock.
func (h *Hub) keep(s *Session, m Message, g *liveGrant, bare string) (Sent, error) {
	if bare == s.Account {
		return Sent{}, errUnavailable
	}
	return h.keepFrom(s.Account, s.channel, g, m, bare, func() { h.archive(s, m, bare) })
}

// keepFrom is keep for a message of sender, sent on ch (with the grant g
// of an app's channel, else nil), to the local account bare: sender may be
// an account of another domain (RemoteMessage), decided the same way.
// archive keeps the message in the histories once it is stored.
func (h *Hub) keepFrom(sender string, ch Channel, g *liveGrant, m Message, bare string, archive func()) (Sent, error) {
	if !storable(m) {
		return Sent{}, errUnavailable
	}
	ctx := context.Background()
	ru, err := h.loadUser(ctx, bare)
	if errors.Is(err, store.ErrNotFound) {
		return Sent{}, errUnavailable
	}
	if err != nil {
		return Sent{}, err
	}
	if !Allow(factsWith(ru, sender, ch, sender, g), FlowMessage) {
		return Sent{}, errUnavailable
	}
	cfg := h.cfg.Offline
	sm := store.StoredMessage{Account: bare, Sender: sender, From: m.From, ID: m.ID, Type: m.Type, Body: m.Body, Payload: m.Payload,
		Sent: m.Sent, Expires: m.Sent.Add(cfg.TTL)}
	seq, fresh, err := h.store.PutStored(ctx, sm, store.StoredLimits{Count: cfg.Messages, Bytes: cfg.Bytes})
	switch {
	case errors.Is(err, store.ErrLimit):
		return Sent{}, errQueueFull
	case errors.Is(err, store.ErrNotFound): // deleted meanwhile
		return Sent{}, errUnavailable
	case err != nil:
		return Sent{}, err
	}
	if !fresh {
		return Sent{Stored: true}, nil // a resend of one that waits: stored once, woken once
	}
	sm.Seq = seq
	archive()
	if h.offerNew(sm) == 0 {
		h.wake(bare, Notification{Kind: NotifyMessage, From: sender, ID: m.ID, Urgency: "normal", TTL: cfg.TTL})
	}
	return Sent{Stored: true}, nil
}

// storedEvent is a stored message as its recipient's sessions get it.
func storedEvent(sm store.StoredMessage) MessageEvent {
	return MessageEvent{Message: Message{ID: sm.ID, Kind: KindMessage, Type: sm.Type, From: sm.From, To: sm.Account, Body: sm.Body,
		Payload: sm.Payload, Sent: sm.Sent}, Stored: sm.Seq}
}

// offerLocked delivers stored messages to s, each decided by the policy
// on s's channel: the recipient's first-party sessions take them unless
// it blocked the sender or ended the relationship since; an app's take
// those its grant covers with the message scope, the sender named as the
// app names it. The caller holds s's account's lock.
func (h *Hub) offerLocked(s *Session, ms []store.StoredMessage) int {
	n := 0
	for _, sm := range ms {
		n += h.deliver(delivery{ev: storedEvent(sm), subject: s.user, flow: FlowMessage, viewer: sm.Sender, stored: true,
			to: []Target{{Account: s.Account, Resource: s.Resource, Channel: s.channel, Want: Want{Kind: KindMessage}}}}).Sessions
	}
	return n
}

// becameAvailableLocked is called when s publishes presence for the first
// time: its account's stored messages are offered to it once its lock is
// released. s.offered is set first, under the lock, so a message stored
// while they are read is offered by the sender's offerNew instead (one of
// the two sees it; both may: a client ignores a Stored ID it has).
//
// A session of negative priority is not offered them (XEP-0160 § 4: like
// bare-address messages, RFC 6121 § 8.5.2.1.1), until it raises it.
func (h *Hub) becameAvailableLocked(s *Session) {
	if s.offered || s.presence.Priority < 0 {
		return
	}
	s.offered = true
	h.afterLocked(s.Account, func() { h.offerStored(s) })
}

// offerStored reads s's account's stored messages and offers them to s.
func (h *Hub) offerStored(s *Session) {
	ms, err := h.store.StoredFor(context.Background(), s.Account, h.clock.Now(), h.cfg.Offline.Messages)
	if err != nil {
		h.log.Error("read stored messages", "account", s.Account, "err", err)
		return
	}
	if len(ms) == 0 {
		return
	}
	defer h.lock(s.Account)()
	if s.ended.Load() || s.user == nil {
		return
	}
	h.offerLocked(s, ms)
}

// offerNew offers a message just stored to the sessions of its recipient
// that were offered the stored ones already, and reports how many took it.
func (h *Hub) offerNew(sm store.StoredMessage) int {
	defer h.lock(sm.Account)()
	u := h.live(sm.Account)
	if u == nil {
		return 0
	}
	n := 0
	for _, s := range u.list() {
		if s.offered && s.available && s.presence.Priority >= 0 && !s.ended.Load() {
			n += h.offerLocked(s, []store.StoredMessage{sm})
		}
	}
	return n
}

// AckStored deletes the stored messages of s's account with these IDs
// (MessageEvent.Stored): a client has them. Another account's are left
// alone.
func (s *Session) AckStored(ctx context.Context, ids []int64) error {
	if len(ids) > s.hub.cfg.Offline.Messages {
		return Errorf(CodeInvalid, "at most %d stored messages per acknowledgement", s.hub.cfg.Offline.Messages)
	}
	_, err := s.hub.store.DeleteStored(ctx, s.Account, ids)
	return err
}

// forgetStored deletes the stored messages among deliveries a session's
// transport acknowledged, for sessions whose acks say so (StoredOnAck).
func (s *Session) forgetStored(ds []int64) {
	if len(ds) == 0 {
		return
	}
	if err := s.AckStored(context.Background(), ds); err != nil {
		s.hub.log.Error("delete acknowledged stored messages", "account", s.Account, "err", err)
	}
}

// SweepStored deletes expired stored messages and history older than its
// time to keep; the server runs it periodically.
func (h *Hub) SweepStored(ctx context.Context) (stored, history int, err error) {
	now := h.clock.Now()
	if stored, err = h.store.DeleteExpiredStored(ctx, now); err != nil {
		return stored, 0, err
	}
	history, err = h.store.DeleteArchivedBefore(ctx, now.Add(-h.cfg.Offline.HistoryTTL))
	return stored, history, err
}
