package sqlstore

import (
	"context"
	"database/sql"
	"strconv"

	"github.com/presenced/presenced/internal/store"
)

// querier runs a query of the shared SQL: the store's pool (DB.query), a
// write transaction (Tx) or a read (readTx).
type querier interface {
	query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (t *Tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.QueryContext(ctx, q, args...)
}

// readTx is a read-only transaction whose queries run the statements the
// store prepared (Dialect.Prepare) on its connection. It never prepares
// one into the store's cache itself: that takes a connection from the pool
// while the transaction holds one, and with every connection held by a
// read doing the same, none would ever come. A query not prepared yet runs
// unprepared, and is prepared once the transaction is over (read).
type readTx struct {
	tx     *sql.Tx
	s      *DB
	missed *[]string
}

func (r readTx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q, args = r.s.bind(q, args)
	st := r.s.cached(q)
	var rows *sql.Rows
	var err error
	if st == nil {
		if r.s.d.Prepare {
			*r.missed = append(*r.missed, q)
		}
		rows, err = r.tx.QueryContext(ctx, q, args...)
	} else {
		rows, err = r.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return rows, r.s.mapErr(err)
}

// read runs f's queries in one read-only transaction: they see one state
// of the database, and take one connection from the pool and (SQLite) one
// read lock for all of them, not one each.
func (s *DB) read(ctx context.Context, f func(querier) error) error {
	var missed []string
	defer func() {
		for _, q := range missed { // the transaction is over: no connection held
			s.prepared(ctx, q)
		}
	}()
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: s.d.ReadIsolation})
	if err != nil {
		return s.mapErr(err)
	}
	defer tx.Rollback()
	if err := f(readTx{tx, s, &missed}); err != nil {
		return err
	}
	return s.mapErr(tx.Commit())
}

// itemsSeenBySQL: the personal items of ?1 and of every other subject
// that approved it (ApprovedBy's subjects), each side by its own index (an
// OR of the two read all of PostgreSQL's index of personal items).
var itemsSeenBySQL = `SELECT account,topic,item_id,data,published FROM personal_items WHERE account=?1
	UNION ALL SELECT p.account,p.topic,p.item_id,p.data,p.published FROM relations r JOIN personal_items p ON p.account=r.subject
		WHERE r.viewer=?1 AND r.state=` + strconv.Itoa(int(store.Approved)) + ` AND r.subject<>?1
	ORDER BY 1, 2`

func (s *DB) FactsOf(ctx context.Context, address string) (store.AccountFacts, error) {
	var f store.AccountFacts
	err := s.read(ctx, func(q querier) error {
		f = store.AccountFacts{} // from this run alone
		var err error
		if f.Relations, f.Approvers, err = relationsFacts(ctx, q, address); err != nil {
			return err
		}
		if f.Blocks, f.Hidden, err = privacyLists(ctx, q, address); err != nil {
			return err
		}
		if f.Grants, err = listGrants(ctx, q, address); err != nil {
			return err
		}
		rows, err := q.query(ctx, itemsSeenBySQL, address)
		if err != nil {
			return err
		}
		f.Items, err = scanItems(rows, nil)
		return err
	})
	return f, err
}

// relationsFactsSQL is relationsOfSQL with, on each edge naming ?1 as an
// approved viewer, the facts ApprovedBy gives of its subject: the
// account's relations are read once for both. The subject's facts are
// joined on the viewer side alone (the edges naming ?1 as viewer, its own
// edge to itself included, as ApprovedBy has it): the edges of ?1 as
// subject carry constants and probe neither accounts, blocks nor hidden
// (SQLite's virtual machine ran 2,663 steps for a 20-contact roster when
// both sides were joined, 1,657 so: docs/benchmarks.md).
var relationsFactsSQL = `SELECT subject, viewer, state, preapproved, FALSE, FALSE, 0, 0, 0
		FROM relations WHERE subject=?1 AND viewer<>?1
	UNION ALL SELECT r.subject, r.viewer, r.state, r.preapproved, ` + subjectFactsCols + `
		FROM relations r ` + subjectFactsJoins("r.state="+strconv.Itoa(int(store.Approved))+" AND ") + `
		WHERE r.viewer=?1
	ORDER BY 1, 2`

// relationsAtOnce is the room FactsOf's relations start with: what a
// login reads is dropped once the core has taken what it keeps, so spare
// room costs nothing held.
const relationsAtOnce = 32

// relationsFacts is RelationsOf(address) and ApprovedBy(address) in one
// query, through q.
func relationsFacts(ctx context.Context, q querier, address string) (rels []store.Relation, approvers []store.SubjectFacts, err error) {
	rows, err := q.query(ctx, relationsFactsSQL, address)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var r store.Relation
	var f store.SubjectFacts
	var seen, shown int64
	dest := []any{&r.Subject, &r.Viewer, &r.State, &r.PreApproved, &f.Blocked, &f.Hidden, &f.Invisible, &seen, &shown} // one for every row
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		if rels == nil { // room for a roster of 16 mutual contacts at once, not grown from one
			rels = make([]store.Relation, 0, relationsAtOnce)
		}
		rels = append(rels, r)
		if r.Viewer == address && r.State == store.Approved {
			f.Subject, f.LastSeen, f.Shown = r.Subject, fromUnix(seen), fromUnix(shown)
			if approvers == nil {
				approvers = make([]store.SubjectFacts, 0, relationsAtOnce/2)
			}
			approvers = append(approvers, f)
		}
	}
	return rels, approvers, rows.Err()
}
