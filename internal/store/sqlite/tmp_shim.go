package sqlite

import (
	"context"
	"time"

	"github.com/presenced/presenced/internal/store"
)

func (s *DB) EditPair(ctx context.Context, actor, other string, lim store.RelationLimits, change func(mine, theirs *store.Relation)) (mine, theirs store.Relation, err error) {
	if mine, err = s.GetRelation(ctx, other, actor); err != nil {
		return
	}
	if theirs, err = s.GetRelation(ctx, actor, other); err != nil {
		return
	}
	m, t := mine, theirs
	change(&m, &t)
	if m != mine {
		if err = s.PutRelation(ctx, m); err != nil {
			return
		}
	}
	if t != theirs {
		err = s.PutRelation(ctx, t)
	}
	return
}
func (s *DB) LifecycleSince(ctx context.Context, after int64, limit int) ([]store.LifecycleEvent, error) {
	return nil, nil
}
func (s *DB) LastLifecycleID(ctx context.Context) (int64, error)                { return 0, nil }
func (s *DB) PruneLifecycle(ctx context.Context, before time.Time) (int, error) { return 0, nil }
