package core

import "time"

// Waking a device (issue 11): when something is waiting for an account
// and no live session took it — a message stored for later, a call ringing
// nobody — the hub tells its Waker, which may wake one of the account's
// devices by Web Push (internal/webpush). The Waker decides nothing about
// rights: the caller has asked the policy already, and a Notification
// says no more than the recipient may learn.

// Waker wakes an account's devices. Wake must not block: it queues.
type Waker interface {
	Wake(account string, n Notification)
}

// Notification is what a woken device is told.
type Notification struct {
	Kind    string        // NotifyMessage or NotifyCall
	From    string        // the bare address of who wants the account
	ID      string        // the message's or the call's ID
	Urgency string        // RFC 8030 § 5.3: "very-low", "low", "normal" or "high"
	TTL     time.Duration // how long the push service may keep it
}

// Kinds of notifications.
const (
	NotifyMessage = "message"
	NotifyCall    = "call"
)

// wake tells the hub's Waker, if it has one.
func (h *Hub) wake(account string, n Notification) {
	if h.cfg.Waker != nil {
		h.cfg.Waker.Wake(account, n)
	}
}
