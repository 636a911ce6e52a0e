package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// lifecycleChannel is the notification channel a transaction that appends
// to the lifecycle log notifies (Dialect.AfterLog), on commit.
const lifecycleChannel = "presenced_lifecycle"

// listenRetry is the pause before a lost listening connection is opened
// again.
const listenRetry = time.Second

// listener is the store's lifecycle watch (sqlstore.Watch.Listen): a
// connection of its own, outside the pool (a LISTEN lasts as long as its
// connection, which it holds for good), waits for the log's
// notifications and calls changed on each. Whenever it (re)starts
// listening it calls changed too: what committed while nobody listened
// was not notified to it. A lost connection is opened again after a
// pause; meanwhile the watch's fallback reads the log.
func listener(cfg *pgx.ConnConfig) func(ctx context.Context, changed func()) {
	return func(ctx context.Context, changed func()) {
		for ctx.Err() == nil {
			listenOnce(ctx, cfg, changed)
			select {
			case <-ctx.Done():
			case <-time.After(listenRetry):
			}
		}
	}
}

// listenOnce listens on one connection until it fails or ctx ends.
func listenOnce(ctx context.Context, cfg *pgx.ConnConfig, changed func()) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+lifecycleChannel); err != nil {
		return
	}
	changed()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return
		}
		changed()
	}
}
