package store

import (
	"context"
	"time"
)

// PushSubscription is a device's Web Push subscription (RFC 8030, the
// browser's PushSubscription): where to post, and the keys to encrypt for
// it (RFC 8291). The keys are the device's public key and a shared secret:
// kept as given, since presenced must encrypt with them.
type PushSubscription struct {
	ID       string // presenced's name for it: derived from the endpoint
	Account  string
	Endpoint string // the push service's URL for this device
	P256dh   string // the device's public key, base64url (65 bytes, uncompressed P-256)
	Auth     string // the authentication secret, base64url (16 bytes)
	Device   string // the user's name for the device, optional
	Created  time.Time
}

// MaxPushSubscriptions bounds one account's subscriptions.
const MaxPushSubscriptions = 20

// PushSubscriptions keeps the devices each account asked to be woken on.
type PushSubscriptions interface {
	// PutPushSubscription stores p, replacing the account's subscription
	// of the same ID (a device subscribing again); ErrLimit past
	// MaxPushSubscriptions, ErrNotFound if the account does not exist.
	PutPushSubscription(ctx context.Context, p PushSubscription) error
	// PushSubscriptionsOf lists account's subscriptions, oldest first.
	PushSubscriptionsOf(ctx context.Context, account string) ([]PushSubscription, error)
	// DeletePushSubscription removes one; ErrNotFound if there is none.
	DeletePushSubscription(ctx context.Context, account, id string) error
}
