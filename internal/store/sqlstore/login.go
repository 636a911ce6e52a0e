package sqlstore

import (
	"context"
	"slices"
	"strings"

	"github.com/presenced/presenced/internal/store"
)

// accountViewSQL is the reads of a session's start as one statement: a row
// per item, its kind first, in a few columns the kinds share (an address
// and integers; a kind leaves the ones it does not use 0). One statement
// rather than six: each statement costs SQLite a read transaction of its
// own (locks on the WAL index, page 1) and database/sql a round of its own,
// which together outweighed the rows of an account with no contacts
// (docs/benchmarks.md, issue 9). The rows are kept narrow because each
// column read costs the driver a round too: an incoming relation carries
// the facts ApprovedBy gives for its subject, its flags packed as bits.
// Grants and personal items, which most logins have none of and whose rows
// are wide, are only flagged here (kinds viewGrants, viewItems) and then
// read by ListGrants and PersonalItemsOf.
const accountViewSQL = `SELECT 0, address, created_at, last_seen, invisible, 0 FROM accounts WHERE address=?1
	UNION ALL SELECT 1, viewer, state, preapproved, 0, 0 FROM relations WHERE subject=?1 AND viewer<>?1
	UNION ALL SELECT 2, r.subject, r.state,
			r.preapproved + 2*(CASE WHEN b.blocker IS NULL THEN 0 ELSE 1 END) + 4*(CASE WHEN h.subject IS NULL THEN 0 ELSE 1 END) + 8*COALESCE(a.invisible,0),
			COALESCE(a.last_seen,0), COALESCE(b.shown, h.shown, 0)
		FROM relations r LEFT JOIN accounts a ON a.address=r.subject
			LEFT JOIN blocks b ON b.blocker=r.subject AND b.blocked=r.viewer
			LEFT JOIN hidden h ON h.subject=r.subject AND h.viewer=r.viewer
		WHERE r.viewer=?1
	UNION ALL SELECT 3, blocked, shown, 0, 0, 0 FROM blocks WHERE blocker=?1
	UNION ALL SELECT 4, viewer, shown, 0, 0, 0 FROM hidden WHERE subject=?1
	UNION ALL SELECT 5, '', 0, 0, 0, 0 WHERE EXISTS(SELECT 1 FROM grants WHERE account=?1)
	UNION ALL SELECT 6, '', 0, 0, 0, 0 WHERE EXISTS(SELECT 1 FROM personal_items WHERE account=?1)
		OR EXISTS(SELECT 1 FROM relations r JOIN personal_items p ON p.account=r.subject WHERE r.viewer=?1 AND r.state=?2)
	ORDER BY 1, 2`

// The kinds of accountViewSQL's rows.
const (
	viewAccount     = iota
	viewRelationOut // address is the subject
	viewRelationIn  // address is the viewer, with the subject's facts
	viewBlock
	viewHidden
	viewGrants // address has grants
	viewItems  // address or a subject that approved it has personal items
)

// The bits of a viewRelationIn row's flags.
const (
	flagPreApproved = 1 << iota
	flagBlocked
	flagHidden
	flagInvisible
)

func (s *DB) AccountView(ctx context.Context, address string) (store.AccountView, error) {
	var v store.AccountView
	found, grants, items, err := s.scanAccountView(ctx, address, &v)
	switch {
	case err != nil:
		return store.AccountView{}, err
	case !found:
		return store.AccountView{}, store.ErrNotFound
	}
	slices.SortFunc(v.Relations, func(a, b store.Relation) int { // RelationsOf's order
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		return strings.Compare(a.Viewer, b.Viewer)
	})
	if grants {
		if v.Grants, err = s.ListGrants(ctx, address); err != nil {
			return store.AccountView{}, err
		}
	}
	if items {
		subjects := make([]string, 1, len(v.Approved)+1)
		subjects[0] = address
		for _, f := range v.Approved {
			subjects = append(subjects, f.Subject)
		}
		if v.Items, err = s.PersonalItemsOf(ctx, subjects); err != nil {
			return store.AccountView{}, err
		}
	}
	return v, nil
}

// scanAccountView runs accountViewSQL into v; it reports whether the
// account exists and whether grants and personal items are to be read.
func (s *DB) scanAccountView(ctx context.Context, address string, v *store.AccountView) (found, grants, items bool, err error) {
	rows, err := s.query(ctx, accountViewSQL, address, store.Approved)
	if err != nil {
		return false, false, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind int
			t    string
			n    [4]int64
		)
		if err := rows.Scan(&kind, &t, &n[0], &n[1], &n[2], &n[3]); err != nil {
			return false, false, false, err
		}
		switch kind {
		case viewAccount:
			found = true
			v.Account = store.Account{Address: t, CreatedAt: fromUnix(n[0]), LastSeen: fromUnix(n[1]), Invisible: n[2] != 0}
		case viewRelationOut:
			v.Relations = append(v.Relations, store.Relation{Subject: address, Viewer: t, State: store.State(n[0]), PreApproved: n[1] != 0})
		case viewRelationIn:
			r := store.Relation{Subject: t, Viewer: address, State: store.State(n[0]), PreApproved: n[1]&flagPreApproved != 0}
			v.Relations = append(v.Relations, r)
			if r.State == store.Approved {
				v.Approved = append(v.Approved, store.SubjectFacts{Subject: t, Blocked: n[1]&flagBlocked != 0, Hidden: n[1]&flagHidden != 0,
					Invisible: n[1]&flagInvisible != 0, LastSeen: fromUnix(n[2]), Shown: fromUnix(n[3])})
			}
		case viewBlock:
			v.Blocks = append(v.Blocks, store.ListEntry{Address: t, Shown: fromUnix(n[0])})
		case viewHidden:
			v.Hidden = append(v.Hidden, store.ListEntry{Address: t, Shown: fromUnix(n[0])})
		case viewGrants:
			grants = true
		case viewItems:
			items = true
		}
	}
	return found, grants, items, rows.Err()
}
