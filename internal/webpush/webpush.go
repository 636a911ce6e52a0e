// Package webpush wakes users' devices by Web Push (RFC 8030) when
// something waits for them and no live session took it: the core's Waker
// (core/wake.go). Payloads are encrypted for each device (RFC 8291) and
// the server identifies itself with VAPID (RFC 8292), both by
// github.com/SherClockHolmes/webpush-go; this package keeps the
// subscriptions, guards the endpoints (guard.go), and retries with backoff
// within the notification's time to live. docs/push.md says how to use it.
package webpush

import (
	"context"
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	wp "github.com/SherClockHolmes/webpush-go"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

// Service sends Web Push notifications. Set the exported fields, then
// call Run; Wake may be called before, what it queues waits.
type Service struct {
	Store   store.PushSubscriptions
	Keys    Keys
	Subject string // VAPID "sub": a mailto: or https: URL where the push service can reach the operator
	// AllowPrivate lets endpoints be http, or on loopback and private
	// addresses (guard.go): for tests and closed networks only.
	AllowPrivate bool
	Clock        clock.Clock
	Log          *slog.Logger
	// RetryBase is the first retry's wait, doubled at each (with jitter),
	// up to MaxAttempts; 0: a second.
	RetryBase time.Duration

	once   sync.Once
	queue  chan job
	client *http.Client
	// Sent, Failed and Dropped count pushes accepted by push services,
	// given up on, and wake-ups dropped because the queue was full.
	Sent, Failed, Dropped atomic.Uint64
}

// MaxAttempts bounds the posts of one notification to one device.
const MaxAttempts = 5

// queueLen bounds the wake-ups waiting to be sent.
const queueLen = 4096

type job struct {
	account string
	n       core.Notification
	at      time.Time
}

func (s *Service) init() {
	s.once.Do(func() {
		s.queue = make(chan job, queueLen)
		s.client = client(s.AllowPrivate)
		if s.Log == nil {
			s.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		if s.Clock == nil {
			s.Clock = clock.Real{}
		}
		if s.RetryBase == 0 {
			s.RetryBase = time.Second
		}
	})
}

// Wake queues a notification to every device of account (core.Waker). It
// never blocks: past queueLen waiting, it is dropped and counted.
func (s *Service) Wake(account string, n core.Notification) {
	s.init()
	select {
	case s.queue <- job{account: account, n: n, at: s.Clock.Now()}:
	default:
		s.Dropped.Add(1)
		s.Log.Warn("push: queue full, a wake-up is dropped", "account", account)
	}
}

// Run sends what Wake queues, with workers goroutines, until ctx ends.
func (s *Service) Run(ctx context.Context, workers int) {
	s.init()
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-s.queue:
					s.deliver(ctx, j)
				}
			}
		}()
	}
	wg.Wait()
}

// Payload is what a woken device's service worker receives, decrypted.
type Payload struct {
	Kind string `json:"kind"` // core.NotifyMessage, core.NotifyCall
	From string `json:"from"`
	ID   string `json:"id,omitempty"`
}

// deliver posts j to each of its account's devices, concurrently.
func (s *Service) deliver(ctx context.Context, j job) {
	subs, err := s.Store.PushSubscriptionsOf(ctx, j.account)
	if err != nil {
		s.Log.Warn("push: list subscriptions", "account", j.account, "err", err)
		return
	}
	body, _ := json.Marshal(Payload{Kind: j.n.Kind, From: j.n.From, ID: j.n.ID})
	var wg sync.WaitGroup
	for _, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.send(ctx, j, sub, body)
		}()
	}
	wg.Wait()
}

// send posts body to one device, retrying what may succeed later while
// the notification lives; a device the push service no longer knows
// (404, 410) is forgotten.
func (s *Service) send(ctx context.Context, j job, sub store.PushSubscription, body []byte) {
	ttl := j.n.TTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	wait := s.RetryBase
	for attempt := 1; ; attempt++ {
		left := ttl - s.Clock.Now().Sub(j.at)
		if left <= 0 {
			s.Failed.Add(1)
			s.Log.Info("push: expired before a push service took it", "account", j.account, "subscription", sub.ID)
			return
		}
		status, retryAfter, err := s.post(ctx, sub, body, j.n.Urgency, left)
		switch {
		case err == nil && status >= 200 && status < 300:
			s.Sent.Add(1)
			return
		case err == nil && (status == http.StatusNotFound || status == http.StatusGone):
			if err := s.Store.DeletePushSubscription(ctx, sub.Account, sub.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.Log.Warn("push: forget a gone subscription", "account", sub.Account, "err", err)
			}
			s.Failed.Add(1)
			return
		case errors.Is(err, ErrEndpoint) || err == nil && status != http.StatusTooManyRequests && status < 500 && status != http.StatusRequestTimeout:
			s.Failed.Add(1) // refused for good: a bad endpoint, a payload or VAPID problem
			s.Log.Warn("push: refused", "account", sub.Account, "subscription", sub.ID, "status", status, "err", err)
			return
		case attempt == MaxAttempts:
			s.Failed.Add(1)
			s.Log.Warn("push: giving up", "account", sub.Account, "subscription", sub.ID, "status", status, "err", err)
			return
		}
		d := wait/2 + rand.N(wait) // jitter: 0.5 to 1.5 of the wait
		if retryAfter > d {
			d = min(retryAfter, time.Minute)
		}
		wait *= 2
		due := make(chan struct{})
		t := s.Clock.AfterFunc(d, func() { close(due) })
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-due:
		}
	}
}

// post sends one encrypted notification and returns the push service's
// status and the Retry-After it asked for.
func (s *Service) post(ctx context.Context, sub store.PushSubscription, body []byte, urgency string, ttl time.Duration) (int, time.Duration, error) {
	if err := CheckEndpoint(sub.Endpoint, s.AllowPrivate); err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// a copy per post: webpush-go appends its padding to the slice it is
	// given, which would race between the devices of one notification
	msg := append([]byte(nil), body...)
	// the library writes "mailto:" before every subject but an https: one
	subject := strings.TrimPrefix(s.Subject, "mailto:")
	resp, err := wp.SendNotificationWithContext(ctx, msg, &wp.Subscription{Endpoint: sub.Endpoint, Keys: wp.Keys{P256dh: sub.P256dh, Auth: sub.Auth}},
		&wp.Options{HTTPClient: s.client, Subscriber: subject, VAPIDPublicKey: s.Keys.Public, VAPIDPrivateKey: s.Keys.Private,
			TTL: int((ttl + time.Second - 1) / time.Second), Urgency: wp.Urgency(urgency)}) // whole seconds, rounded up
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	var after time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		after = time.Duration(secs) * time.Second
	}
	return resp.StatusCode, after, nil
}

// Subscribe stores a device's subscription (the browser's
// PushSubscription.toJSON()) for account after checking it.
func (s *Service) Subscribe(ctx context.Context, account, endpoint, p256dh, auth, device string) (store.PushSubscription, error) {
	if err := CheckEndpoint(endpoint, s.AllowPrivate); err != nil {
		return store.PushSubscription{}, core.Errorf(core.CodeInvalid, "%v", err)
	}
	if k, err := base64.RawURLEncoding.DecodeString(trimPad(p256dh)); err != nil {
		return store.PushSubscription{}, core.Errorf(core.CodeInvalid, "keys.p256dh must be base64url")
	} else if _, err := ecdh.P256().NewPublicKey(k); err != nil {
		return store.PushSubscription{}, core.Errorf(core.CodeInvalid, "keys.p256dh is not a P-256 public key")
	}
	if a, err := base64.RawURLEncoding.DecodeString(trimPad(auth)); err != nil || len(a) != 16 {
		return store.PushSubscription{}, core.Errorf(core.CodeInvalid, "keys.auth must be 16 bytes, base64url")
	}
	if len(device) > 64 {
		return store.PushSubscription{}, core.Errorf(core.CodeInvalid, "device must be at most 64 bytes")
	}
	id := sha256.Sum256([]byte(endpoint))
	p := store.PushSubscription{ID: base64.RawURLEncoding.EncodeToString(id[:12]), Account: account, Endpoint: endpoint,
		P256dh: trimPad(p256dh), Auth: trimPad(auth), Device: device, Created: s.now()}
	err := s.Store.PutPushSubscription(ctx, p)
	if errors.Is(err, store.ErrLimit) {
		return p, core.Errorf(core.CodeLimit, "at most %d devices per account: remove one first", store.MaxPushSubscriptions)
	}
	return p, err
}

func (s *Service) now() time.Time {
	s.init()
	return s.Clock.Now()
}

func trimPad(s string) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return s
}

var _ core.Waker = (*Service)(nil)
