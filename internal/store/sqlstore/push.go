package sqlstore

import (
	"context"
	"fmt"

	"github.com/presenced/presenced/internal/store"
)

// Web Push subscriptions (store/push.go; migration 0019).

func (s *DB) PutPushSubscription(ctx context.Context, p store.PushSubscription) error {
	return s.tx(ctx, func(tx *Tx) error {
		var account, exists bool
		var n int
		err := tx.QueryRowContext(ctx, `SELECT
				EXISTS(SELECT 1 FROM accounts WHERE address=?1),
				EXISTS(SELECT 1 FROM push_subscriptions WHERE account=?1 AND id=?2),
				(SELECT COUNT(*) FROM push_subscriptions WHERE account=?1)`, p.Account, p.ID).Scan(&account, &exists, &n)
		switch {
		case err != nil:
			return err
		case !account:
			return fmt.Errorf("account %s: %w", p.Account, store.ErrNotFound)
		case !exists && n >= store.MaxPushSubscriptions:
			return fmt.Errorf("%s has %d push subscriptions, the limit: %w", p.Account, n, store.ErrLimit)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO push_subscriptions(account,id,endpoint,p256dh,auth,device,created) VALUES (?,?,?,?,?,?,?)
			ON CONFLICT(account,id) DO UPDATE SET endpoint=excluded.endpoint, p256dh=excluded.p256dh, auth=excluded.auth, device=excluded.device`,
			p.Account, p.ID, p.Endpoint, p.P256dh, p.Auth, p.Device, unix(p.Created))
		return err
	})
}

func (s *DB) PushSubscriptionsOf(ctx context.Context, account string) ([]store.PushSubscription, error) {
	rows, err := s.query(ctx, `SELECT account,id,endpoint,p256dh,auth,device,created FROM push_subscriptions WHERE account=? ORDER BY created, id`, account)
	return collect(rows, err, func(sc interface{ Scan(...any) error }) (store.PushSubscription, error) {
		var p store.PushSubscription
		var created int64
		err := sc.Scan(&p.Account, &p.ID, &p.Endpoint, &p.P256dh, &p.Auth, &p.Device, &created)
		p.Created = fromUnix(created)
		return p, err
	})
}

func (s *DB) DeletePushSubscription(ctx context.Context, account, id string) error {
	if err := mustAffect(s.exec(ctx, `DELETE FROM push_subscriptions WHERE account=? AND id=?`, account, id)); err != nil {
		return fmt.Errorf("push subscription %s of %s: %w", id, account, err)
	}
	return nil
}
