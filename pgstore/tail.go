package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mtguard/mtguard/txn"
)

// Position is a place in the feed of committed calls: the calls are read in the order of the
// transactions that gave them their result (XID), then of their ids. The zero Position is
// before every call.
type Position struct {
	XID int64
	ID  string
}

// Less reports whether p comes before q.
func (p Position) Less(q Position) bool {
	return p.XID < q.XID || p.XID == q.XID && p.ID < q.ID
}

// Feed is one page of the feed of committed calls.
type Feed struct {
	// Calls are the calls after the position asked for, in feed order.
	Calls []txn.Transaction
	// Next is where the next page starts: after the last call, or, when the feed is read to
	// its end, where the calls committed from now on will be.
	Next Position
	// More says that the page was full: more calls may follow at once.
	More bool
}

// Committed returns up to limit calls (1000 at most) whose result was committed after from,
// whichever instance recorded them: only calls whose transaction is older than every
// transaction still running, so that a slow commit is never skipped (a long write transaction
// anywhere on the PostgreSQL server holds the feed back until it ends).
func (s *Store) Committed(ctx context.Context, from Position, limit int) (Feed, error) {
	limit = min(max(limit, 1), maxLimit)
	var horizon int64
	if err := s.pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&horizon); err != nil {
		return Feed{}, fmt.Errorf("read the feed: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT done_xid, id, call, result, replayed_by FROM calls
		WHERE done_xid IS NOT NULL AND (done_xid, id) > ($1, $2) AND done_xid < $3
		ORDER BY done_xid, id LIMIT $4`, from.XID, from.ID, horizon, limit)
	if err != nil {
		return Feed{}, fmt.Errorf("read the feed: %w", err)
	}
	defer rows.Close()
	f := Feed{Calls: []txn.Transaction{}, Next: from}
	for rows.Next() {
		var call, res []byte
		var replayedBy []string
		var p Position
		if err := rows.Scan(&p.XID, &p.ID, &call, &res, &replayedBy); err != nil {
			return Feed{}, fmt.Errorf("read the feed: %w", err)
		}
		var tx txn.Transaction
		if err := decodeCall(&tx, call, res, replayedBy); err != nil {
			return Feed{}, fmt.Errorf("read the feed: %w", err)
		}
		f.Calls = append(f.Calls, tx)
		f.Next = p
	}
	if err := rows.Err(); err != nil {
		return Feed{}, fmt.Errorf("read the feed: %w", err)
	}
	f.More = len(f.Calls) == limit
	if !f.More && f.Next.Less(Position{XID: horizon}) {
		// Every transaction below the horizon had ended when the rows were read.
		f.Next = Position{XID: horizon}
	}
	return f, nil
}

// Head is the position of the calls committed from now on: a feed whose position reaches it
// has read every call committed before Head was called.
func (s *Store) Head(ctx context.Context) (Position, error) {
	var xmax int64
	if err := s.pool.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&xmax); err != nil {
		return Position{}, fmt.Errorf("read the feed's head: %w", err)
	}
	return Position{XID: xmax}, nil
}

// CaughtUp reports whether a feed at pos has read every call committed before head (Head):
// no transaction older than head is still running, and no call committed by one lies
// between pos and head.
func (s *Store) CaughtUp(ctx context.Context, pos, head Position) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint >= $3
		AND NOT EXISTS (SELECT 1 FROM calls WHERE done_xid IS NOT NULL AND (done_xid, id) > ($1, $2) AND done_xid < $3)`,
		pos.XID, pos.ID, head.XID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("read the feed's position: %w", err)
	}
	return ok, nil
}

// FeedCursor returns where job's feed stopped; ok is false when it never ran.
func (s *Store) FeedCursor(ctx context.Context, job string) (p Position, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT xid, id FROM feed_cursors WHERE job = $1`, job).Scan(&p.XID, &p.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Position{}, false, nil
	}
	if err != nil {
		return Position{}, false, fmt.Errorf("read the feed cursor of %s: %w", job, err)
	}
	return p, true, nil
}

// ErrNotLeading is returned by a Term's writes once this instance no longer holds the job's
// lease: another instance runs the job, and owns its state.
var ErrNotLeading = errors.New("this instance no longer holds the job's lease")

// Term is this instance's turn at running job (Lead said it holds its lease): its writes to
// the job's shared state (journeys, shapes, the feed cursor) succeed only while the lease is
// this instance's, so an instance that stalled past its lease cannot overwrite what the next
// one wrote. Its other methods are the Store's.
type Term struct {
	*Store
	job string
}

// Term returns this instance's term at job.
func (s *Store) Term(job string) Term { return Term{Store: s, job: job} }

// SaveJourneys is Store.SaveJourneys, fenced by the job's lease.
func (t Term) SaveJourneys(put map[string][]byte, del []string) error {
	return t.saveKept(context.Background(), t.job, put, del)
}

// SaveShapes is Store.SaveShapes, fenced by the job's lease.
func (t Term) SaveShapes(put map[string][]byte) error {
	return t.saveShapes(context.Background(), t.job, put)
}

// SaveCursor records where the job's feed stopped, fenced by the job's lease.
func (t Term) SaveCursor(ctx context.Context, p Position) error {
	err := pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
		if err := t.fence(ctx, tx, t.job); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO feed_cursors (job, xid, id) VALUES ($1, $2, $3)
			ON CONFLICT (job) DO UPDATE SET xid = EXCLUDED.xid, id = EXCLUDED.id`, t.job, p.XID, p.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("save the feed cursor of %s: %w", t.job, err)
	}
	return nil
}

// fence fails with ErrNotLeading unless this instance holds job's lease, and keeps the lease
// row locked until tx ends, so no other instance takes it over in the meantime. An empty job
// is not fenced.
func (s *Store) fence(ctx context.Context, tx pgx.Tx, job string) error {
	if job == "" {
		return nil
	}
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND expires > now() FOR SHARE) l`,
		job, s.instance).Scan(&n)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", job, ErrNotLeading)
	}
	return nil
}
