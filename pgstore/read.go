package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

const (
	defaultLimit = 50
	maxLimit     = 1000
)

// Get returns the transaction with id, or an error wrapping store.ErrNotFound. It first waits
// for the writes already queued, as the bbolt store does.
func (s *Store) Get(ctx context.Context, id string) (txn.Transaction, error) {
	if err := s.barrier(ctx); err != nil {
		return txn.Transaction{}, err
	}
	rows, err := s.pool.Query(ctx, `SELECT call, result, replayed_by FROM calls WHERE id = $1 AND call IS NOT NULL LIMIT 1`, id)
	if err != nil {
		return txn.Transaction{}, fmt.Errorf("get %s: %w", id, err)
	}
	txs, err := scanCalls(rows)
	if err != nil {
		return txn.Transaction{}, fmt.Errorf("get %s: %w", id, err)
	}
	if len(txs) == 0 {
		return txn.Transaction{}, fmt.Errorf("get %s: %w", id, store.ErrNotFound)
	}
	return txs[0], nil
}

func scanCalls(rows pgx.Rows) ([]txn.Transaction, error) {
	defer rows.Close()
	out := []txn.Transaction{}
	for rows.Next() {
		var call, res []byte
		var replayedBy []string
		if err := rows.Scan(&call, &res, &replayedBy); err != nil {
			return nil, err
		}
		var tx txn.Transaction
		if err := decodeCall(&tx, call, res, replayedBy); err != nil {
			return nil, err
		}
		out = append(out, tx)
	}
	return out, rows.Err()
}

// Query returns one page of the transactions matching q, newest first unless q.Ascending.
// Every filter is a condition of one statement; the indexes make each a range scan.
func (s *Store) Query(ctx context.Context, q store.Query) (store.Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	if q.Cursor != "" && !store.ValidID(q.Cursor) {
		return store.Page{}, fmt.Errorf("query: cursor %q: %w", q.Cursor, store.ErrBadCursor)
	}
	if err := s.barrier(ctx); err != nil {
		return store.Page{}, err
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	where = append(where, "call IS NOT NULL")
	if q.RecordKey != "" {
		add("record_keys @> ARRAY[?]::text[]", q.RecordKey)
	}
	if q.Route != "" {
		add("route = ?", q.Route)
	}
	// The findings and outcome indexes are partial (migration 0007): the planner takes one
	// only when the query states the index's condition in its text.
	if q.Finding != "" {
		add("findings @> ARRAY[?]::text[] AND findings <> '{}'", q.Finding)
	}
	switch q.Outcome {
	case "":
	case txn.OutcomePending:
		where = append(where, "result IS NULL")
	case txn.OutcomeDelivered:
		add("outcome = ?", string(q.Outcome))
	default:
		add("outcome = ? AND outcome <> 'delivered'", string(q.Outcome))
	}
	if q.Caller != "" {
		add("caller = ?", q.Caller)
	}
	if q.Status != 0 {
		add("status = ?", q.Status)
	}
	if q.StatusClass != 0 {
		add("status / 100 = ?", q.StatusClass)
	}
	// Ids sort by time, so a time range is an id range, as in the bbolt file.
	if !q.Since.IsZero() {
		add("id >= ?", store.IDAt(q.Since))
	}
	if !q.Until.IsZero() {
		add("id < ?", store.IDAt(q.Until))
	}
	order := "DESC"
	if q.Ascending {
		order = "ASC"
	}
	if q.Cursor != "" {
		if q.Ascending {
			add("id > ?", q.Cursor)
		} else {
			add("id < ?", q.Cursor)
		}
	}
	args = append(args, limit)
	sql := `SELECT call, result, replayed_by FROM calls WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY id ` + order + ` LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return store.Page{}, fmt.Errorf("query: %w", err)
	}
	txs, err := scanCalls(rows)
	if err != nil {
		return store.Page{}, fmt.Errorf("query: %w", err)
	}
	page := store.Page{Transactions: txs}
	if len(txs) == limit {
		page.Next = txs[len(txs)-1].ID
	}
	return page, nil
}

// SendTimes returns when the calls of routes were recorded since a time, oldest first, at
// most max of them: what the limiter seeds its windows and quotas with at start.
func (s *Store) SendTimes(routes []string, since time.Time, max int) ([]time.Time, error) {
	if err := s.barrier(context.Background()); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(context.Background(), `SELECT id FROM calls WHERE route = ANY($1) AND id >= $2 ORDER BY id LIMIT $3`,
		nonNil(routes), store.IDAt(since), max)
	if err != nil {
		return nil, fmt.Errorf("send times: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("send times: %w", err)
	}
	out := make([]time.Time, 0, len(ids))
	for _, id := range ids {
		if t, ok := store.IDTime(id); ok {
			out = append(out, t)
		}
	}
	return out, nil
}

// partitionDays is how many days of partitions exist ahead of today.
const partitionDays = 2

// callsFillFactor leaves room in each page of calls for the provisional result's version of
// a row, written as a HOT update beside the intent's (migration 0007 says why).
const callsFillFactor = 50

func partitionName(day time.Time) string { return "calls_p" + day.Format("20060102") }

// EnsurePartitions creates the daily partitions of calls from the day before now to
// partitionDays after it, under a transaction advisory lock (instances do this together). A
// day whose calls already sit in the default partition (copied from an old log, or written
// before its partition existed) has them moved into the new partition.
func (s *Store) EnsurePartitions(ctx context.Context, now time.Time) error {
	today := now.UTC().Truncate(24 * time.Hour)
	for d := -1; d <= partitionDays; d++ {
		lo := today.AddDate(0, 0, d)
		if err := s.ensurePartition(ctx, lo); err != nil {
			return fmt.Errorf("create partition %s: %w", partitionName(lo), err)
		}
	}
	return nil
}

func (s *Store) ensurePartition(ctx context.Context, lo time.Time) error {
	name := partitionName(lo)
	hi := lo.AddDate(0, 0, 1)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('mtguard.partitions.' || current_schema()))`); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil || exists {
			return err
		}
		id := pgx.Identifier{name}.Sanitize()
		lit := func(t time.Time) string { return "'" + t.Format(time.RFC3339) + "'" }
		stmts := []string{
			`CREATE TABLE ` + id + ` (LIKE calls INCLUDING DEFAULTS) WITH (fillfactor = ` + strconv.Itoa(callsFillFactor) + `)`,
			`WITH moved AS (DELETE FROM calls_default WHERE time >= ` + lit(lo) + ` AND time < ` + lit(hi) + ` RETURNING *)
			 INSERT INTO ` + id + ` SELECT * FROM moved`,
			`ALTER TABLE calls ATTACH PARTITION ` + id + ` FOR VALUES FROM (` + lit(lo) + `) TO (` + lit(hi) + `)`,
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteBefore deletes every transaction recorded before t: the daily partitions wholly
// before t are dropped (no row-by-row DELETE, no dead rows left to vacuum), and the rest of
// the older calls (the default partition, the day t falls in) are deleted.
func (s *Store) DeleteBefore(t time.Time) (int, error) {
	ctx := context.Background()
	if err := s.barrier(ctx); err != nil {
		return 0, err
	}
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
		JOIN pg_namespace n ON n.oid = p.relnamespace
		WHERE p.relname = 'calls' AND n.nspname = current_schema() AND c.relname LIKE 'calls\_p%'`)
	if err != nil {
		return 0, fmt.Errorf("retention: list partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("retention: list partitions: %w", err)
	}
	total := 0
	for _, name := range names {
		day, err := time.Parse("20060102", strings.TrimPrefix(name, "calls_p"))
		if err != nil || day.AddDate(0, 0, 1).After(t) {
			continue
		}
		var n int
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			id := pgx.Identifier{name}.Sanitize()
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+id).Scan(&n); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DROP TABLE `+id)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("retention: drop partition %s: %w", name, err)
		}
		total += n
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM calls WHERE id < $1`, store.IDAt(t))
	if err != nil {
		return total, fmt.Errorf("retention sweep: %w", err)
	}
	return total + int(tag.RowsAffected()), nil
}

// RunRetention, on the instance that holds the retention lease, deletes calls older than
// retention every interval and keeps the next days' partitions ready, until ctx is done. It
// reports each sweep's result to report (which may be nil).
func (s *Store) RunRetention(ctx context.Context, retention, interval time.Duration, report func(deleted int, err error)) {
	sweep := func() {
		lead, err := s.Lead(ctx, "retention", 2*interval)
		if err == nil && lead {
			err = s.EnsurePartitions(ctx, s.now())
			if err == nil {
				var n int
				n, err = s.DeleteBefore(s.now().Add(-retention))
				if report != nil && n > 0 {
					report(n, nil)
				}
			}
		}
		if report != nil && err != nil && !errors.Is(err, context.Canceled) {
			report(0, err)
		}
	}
	sweep()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sweep()
		}
	}
}

// decodeCall fills tx from a row's call and result (nil: pending) and replay links.
func decodeCall(tx *txn.Transaction, call, res []byte, replayedBy []string) error {
	if err := json.Unmarshal(call, &tx.Call); err != nil {
		return fmt.Errorf("decode request: %w", err)
	}
	if res != nil {
		if err := json.Unmarshal(res, &tx.Result); err != nil {
			return fmt.Errorf("decode result %s: %w", tx.ID, err)
		}
	} else {
		tx.Outcome = txn.OutcomePending
	}
	if len(replayedBy) > 0 {
		tx.ReplayedBy = replayedBy
	}
	if tx.Findings == nil {
		tx.Findings = []txn.Finding{}
	}
	if tx.RecordKeys == nil {
		tx.RecordKeys = []string{}
	}
	return nil
}
