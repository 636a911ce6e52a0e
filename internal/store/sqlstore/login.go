package sqlstore

import (
	"context"
	"fmt"

	"github.com/presenced/presenced/internal/store"
)

// accountViewSQL is every read of a session's start as one statement: a
// row per item, its kind first, in columns shared by the kinds (text
// t1…t5, integers n1…n6; a kind leaves the ones it does not use empty or 0).
// One statement rather than six: each statement costs SQLite a read
// transaction of its own (locks on the WAL index, page 1) and
// database/sql a round of its own, which together outweighed the rows of
// an account with a few dozen contacts (docs/benchmarks.md, issue 9).
// The parts are the queries of GetAccount, RelationsOf, PrivacyLists,
// ListGrants, ApprovedBy and PersonalItemsOf; ORDER BY 1, 2, 3 gives each
// kind the order its method gives.
const accountViewSQL = `SELECT 0, address, '', '', '', '', created_at, invisible, last_seen, 0, 0, 0 FROM accounts WHERE address=?1
	UNION ALL SELECT 1, subject, viewer, '', '', '', state, preapproved, 0, 0, 0, 0 FROM relations WHERE subject=?1
	UNION ALL SELECT 1, subject, viewer, '', '', '', state, preapproved, 0, 0, 0, 0 FROM relations WHERE viewer=?1 AND subject<>?1
	UNION ALL SELECT 2, blocked, '', '', '', '', shown, 0, 0, 0, 0, 0 FROM blocks WHERE blocker=?1
	UNION ALL SELECT 3, viewer, '', '', '', '', shown, 0, 0, 0, 0, 0 FROM hidden WHERE subject=?1
	UNION ALL SELECT 4, app, scopes, contacts, group_, picked, addresses, hidden, private, created_at, updated_at, expires_at FROM grants WHERE account=?1
	UNION ALL SELECT 5, r.subject, '', '', '', '', CASE WHEN b.blocker IS NULL THEN 0 ELSE 1 END, CASE WHEN h.subject IS NULL THEN 0 ELSE 1 END,
			COALESCE(a.invisible,0), COALESCE(a.last_seen,0), COALESCE(b.shown, h.shown, 0), 0
		FROM relations r LEFT JOIN accounts a ON a.address=r.subject
			LEFT JOIN blocks b ON b.blocker=r.subject AND b.blocked=r.viewer
			LEFT JOIN hidden h ON h.subject=r.subject AND h.viewer=r.viewer
		WHERE r.viewer=?1 AND r.state=?2
	UNION ALL SELECT 6, account, topic, item_id, data, '', published, 0, 0, 0, 0, 0 FROM personal_items WHERE account=?1
	UNION ALL SELECT 6, account, topic, item_id, data, '', published, 0, 0, 0, 0, 0 FROM personal_items
		WHERE account IN (SELECT subject FROM relations WHERE viewer=?1 AND state=?2 AND subject<>?1)
	ORDER BY 1, 2, 3`

// The kinds of accountViewSQL's rows.
const (
	viewAccount = iota
	viewRelation
	viewBlock
	viewHidden
	viewGrant
	viewApproved
	viewItem
)

func (s *DB) AccountView(ctx context.Context, address string) (store.AccountView, error) {
	var v store.AccountView
	rows, err := s.query(ctx, accountViewSQL, address, store.Approved)
	if err != nil {
		return v, err
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var (
			kind int
			t    [5]string
			n    [6]int64
		)
		if err := rows.Scan(&kind, &t[0], &t[1], &t[2], &t[3], &t[4], &n[0], &n[1], &n[2], &n[3], &n[4], &n[5]); err != nil {
			return v, err
		}
		switch kind {
		case viewAccount:
			found = true
			v.Account = store.Account{Address: t[0], CreatedAt: fromUnix(n[0]), Invisible: n[1] != 0, LastSeen: fromUnix(n[2])}
		case viewRelation:
			v.Relations = append(v.Relations, store.Relation{Subject: t[0], Viewer: t[1], State: store.State(n[0]), PreApproved: n[1] != 0})
		case viewBlock:
			v.Blocks = append(v.Blocks, store.ListEntry{Address: t[0], Shown: fromUnix(n[0])})
		case viewHidden:
			v.Hidden = append(v.Hidden, store.ListEntry{Address: t[0], Shown: fromUnix(n[0])})
		case viewGrant:
			g, err := viewGrantOf(address, t, n)
			if err != nil {
				return v, err
			}
			v.Grants = append(v.Grants, g)
		case viewApproved:
			v.Approved = append(v.Approved, store.SubjectFacts{Subject: t[0], Blocked: n[0] != 0, Hidden: n[1] != 0,
				Invisible: n[2] != 0, LastSeen: fromUnix(n[3]), Shown: fromUnix(n[4])})
		case viewItem:
			v.Items = append(v.Items, store.PersonalItem{Account: t[0], Topic: t[1], ItemID: t[2], Data: t[3], Published: fromUnix(n[0])})
		}
	}
	if err := rows.Err(); err != nil {
		return v, err
	}
	if !found {
		return store.AccountView{}, store.ErrNotFound
	}
	return v, nil
}

// viewGrantOf is scanGrant for a grant row of accountViewSQL.
func viewGrantOf(account string, t [5]string, n [6]int64) (store.Grant, error) {
	g := store.Grant{Account: account, App: t[0], Contacts: store.ContactsMode(t[2]), Group: t[3],
		Addresses: n[0] != 0, Hidden: n[1] != 0, Private: n[2] != 0,
		CreatedAt: fromUnix(n[3]), UpdatedAt: fromUnix(n[4]), ExpiresAt: fromUnix(n[5])}
	var err error
	if g.Scopes, err = fromJSONList(t[1]); err != nil {
		return g, fmt.Errorf("grant of %s to %s: corrupt scopes: %w", g.Account, g.App, err)
	}
	if g.Picked, err = fromJSONList(t[4]); err != nil {
		return g, fmt.Errorf("grant of %s to %s: corrupt picked contacts: %w", g.Account, g.App, err)
	}
	return g, nil
}
