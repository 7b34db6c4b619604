package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// PutAlert writes a (or its new state) into the alert history.
func (s *Store) PutAlert(a store.Alert) error {
	if a.ID == "" {
		return fmt.Errorf("put alert: empty id")
	}
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode alert %s: %w", a.ID, err)
	}
	_, err = s.pool.Exec(context.Background(), `INSERT INTO alerts (id, route, state, body) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET route = EXCLUDED.route, state = EXCLUDED.state, body = EXCLUDED.body`,
		a.ID, a.Route, string(a.State), b)
	if err != nil {
		return fmt.Errorf("put alert %s: %w", a.ID, err)
	}
	return nil
}

// GetAlert returns the alert with id; ok is false when there is none.
func (s *Store) GetAlert(id string) (a store.Alert, ok bool, err error) {
	var b []byte
	err = s.pool.QueryRow(context.Background(), `SELECT body FROM alerts WHERE id = $1`, id).Scan(&b)
	if err == pgx.ErrNoRows {
		return store.Alert{}, false, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &a)
	}
	if err != nil {
		return store.Alert{}, false, fmt.Errorf("get alert %s: %w", id, err)
	}
	return a, true, nil
}

// Alerts returns the alerts matching q, newest first.
func (s *Store) Alerts(q store.AlertQuery) ([]store.Alert, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	rows, err := s.pool.Query(context.Background(), `SELECT body FROM alerts
		WHERE ($1 = '' OR route = $1) AND ($2 = '' OR state = $2) ORDER BY id DESC LIMIT $3`,
		q.Route, string(q.State), min(limit, maxLimit))
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	out := make([]store.Alert, len(bodies))
	for i, b := range bodies {
		if err := json.Unmarshal(b, &out[i]); err != nil {
			return nil, fmt.Errorf("decode alert: %w", err)
		}
	}
	return out, nil
}

// AppendAudit adds e to the audit log, with a fresh id (and e.Time, when zero, now).
func (s *Store) AppendAudit(e store.AuditEntry) (store.AuditEntry, error) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = e.Time.UTC()
	e.ID = s.ids.Next(e.Time)
	b, err := json.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("encode audit entry: %w", err)
	}
	if _, err := s.pool.Exec(context.Background(), `INSERT INTO audit (id, time, body) VALUES ($1, $2, $3)`, e.ID, e.Time, b); err != nil {
		return e, fmt.Errorf("append audit entry: %w", err)
	}
	return e, nil
}

// Audit returns the audit entries matching q, newest first.
func (s *Store) Audit(q store.AuditQuery) ([]store.AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	rows, err := s.pool.Query(context.Background(), `SELECT body FROM audit WHERE time >= $1 ORDER BY id DESC LIMIT $2`,
		q.Since, min(limit, maxLimit))
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	out := make([]store.AuditEntry, len(bodies))
	for i, b := range bodies {
		if err := json.Unmarshal(b, &out[i]); err != nil {
			return nil, fmt.Errorf("decode audit entry: %w", err)
		}
	}
	return out, nil
}

// Reserve holds the chains whose originals are roots for owner, for at most ttl. Each hold is
// one conditional upsert, so of two instances reserving a chain at once exactly one gets it.
func (s *Store) Reserve(roots []string, owner string, ttl time.Duration) (mine []store.Reservation, others map[string]store.Reservation, err error) {
	now := s.now()
	ctx := context.Background()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		mine, others = nil, nil
		for _, root := range roots {
			var tok [16]byte
			if _, err := rand.Read(tok[:]); err != nil {
				return err
			}
			r := store.Reservation{Root: root, Owner: owner, Token: hex.EncodeToString(tok[:]), Since: now, Expires: now.Add(ttl)}
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			var held []byte
			err = tx.QueryRow(ctx, `INSERT INTO replay_holds (root, token, expires, body) VALUES ($1, $2, $3, $4)
				ON CONFLICT (root) DO UPDATE SET token = EXCLUDED.token, expires = EXCLUDED.expires, body = EXCLUDED.body
				WHERE replay_holds.expires <= $5
				RETURNING body`, root, r.Token, r.Expires, b, now).Scan(&held)
			if err == nil {
				mine = append(mine, r)
				continue
			}
			if err != pgx.ErrNoRows {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT body FROM replay_holds WHERE root = $1`, root).Scan(&held); err != nil {
				return err
			}
			var h store.Reservation
			if err := json.Unmarshal(held, &h); err != nil {
				return err
			}
			if others == nil {
				others = map[string]store.Reservation{}
			}
			others[root] = h
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reserve replay chains: %w", err)
	}
	return mine, others, nil
}

// Release ends rs, each if it is still the one held for its chain.
func (s *Store) Release(rs ...store.Reservation) error {
	for _, r := range rs {
		if _, err := s.pool.Exec(context.Background(), `DELETE FROM replay_holds WHERE root = $1 AND token = $2`, r.Root, r.Token); err != nil {
			return fmt.Errorf("release replay chains: %w", err)
		}
	}
	return nil
}

// Forget erases every transaction that carries key: those listing it among their record keys,
// and any other whose stored request or response mentions it. A call that also carried other
// record keys (a batch) is kept with the key's values replaced by store.Erased; any other is
// deleted. Deleted rows leave dead tuples until PostgreSQL vacuums the table; Forget vacuums
// the partitions it touched so their bytes are reclaimed.
func (s *Store) Forget(ctx context.Context, key string) (store.ForgetReport, error) {
	rep := store.ForgetReport{Recipients: []store.Recipient{}}
	if key == "" {
		return rep, fmt.Errorf("forget: empty record key")
	}
	if err := s.barrier(ctx); err != nil {
		return rep, fmt.Errorf("forget: %w", err)
	}
	touched := map[string]bool{}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT c.tableoid::regclass::text, time, call, result, replayed_by FROM calls c
			WHERE call IS NOT NULL AND (record_keys @> ARRAY[$1]::text[]
			   OR strpos(lower(call::text), lower($1)) > 0 OR strpos(lower(coalesce(result::text, '')), lower($1)) > 0
			   OR strpos(lower(coalesce(provisional::text, '')), lower($1)) > 0)
			FOR UPDATE`, key)
		if err != nil {
			return err
		}
		type found struct {
			part      string
			rowTime   time.Time
			hasResult bool
			tx        txn.Transaction
		}
		var all []found
		for rows.Next() {
			var f found
			var call, res []byte
			var replayedBy []string
			if err := rows.Scan(&f.part, &f.rowTime, &call, &res, &replayedBy); err != nil {
				rows.Close()
				return err
			}
			f.hasResult = res != nil
			if err := decodeCall(&f.tx, call, res, replayedBy); err != nil {
				rows.Close()
				return err
			}
			all = append(all, f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, f := range all {
			t := &f.tx
			touched[f.part] = true
			rep.Recipients = store.AddRecipient(rep.Recipients, t)
			keep, err := store.ScrubForForget(t, key)
			if err != nil {
				return err
			}
			if !keep {
				if _, err := tx.Exec(ctx, `DELETE FROM calls WHERE time = $1 AND id = $2`, f.rowTime, t.ID); err != nil {
					return err
				}
				if !f.hasResult {
					// Its answer may still come and would be written as a row of its own.
					if _, err := tx.Exec(ctx, `INSERT INTO forgotten_calls (id, time) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, t.ID, f.rowTime); err != nil {
						return err
					}
				}
				rep.Deleted++
				continue
			}
			call, err := json.Marshal(&t.Call)
			if err != nil {
				return err
			}
			var res []byte
			if f.hasResult {
				if res, err = json.Marshal(&t.Result); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE calls SET call = $3, result = $4, record_keys = $5, provisional = NULL
				WHERE time = $1 AND id = $2`, f.rowTime, t.ID, call, res, nonNil(t.RecordKeys)); err != nil {
				return err
			}
			rep.Scrubbed++
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("forget: %w", err)
	}
	store.SortRecipients(rep.Recipients)
	for part := range touched {
		// VACUUM cannot run in a transaction; it makes the erased rows' space reusable.
		if _, err := s.pool.Exec(ctx, `VACUUM `+part); err != nil {
			return rep, fmt.Errorf("forget: vacuum %s: %w", part, err)
		}
	}
	return rep, nil
}

// forgottenKept is how long the ids of calls forgotten in flight are swept: far longer than
// any call waits for its vendor's answer.
const forgottenKept = 24 * time.Hour

// SweepForgotten deletes the rows that late answers wrote for calls forgotten while they were
// in flight (Forget lists their ids), so a person's data does not come back with the vendor's
// answer. Every instance runs it with its lease renewal; it returns how many rows it deleted.
func (s *Store) SweepForgotten(ctx context.Context) (int, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, time FROM forgotten_calls`)
	if err != nil {
		return 0, fmt.Errorf("sweep forgotten calls: %w", err)
	}
	type gone struct {
		id string
		at time.Time
	}
	var all []gone
	for rows.Next() {
		var g gone
		if err := rows.Scan(&g.id, &g.at); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sweep forgotten calls: %w", err)
		}
		all = append(all, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sweep forgotten calls: %w", err)
	}
	n := 0
	for _, g := range all {
		// One row at a time by primary key: the list is short, and a join could be planned
		// as a scan of every day's partition.
		tag, err := s.pool.Exec(ctx, `DELETE FROM calls WHERE time = $1 AND id = $2 AND call IS NULL`, g.at, g.id)
		if err != nil {
			return n, fmt.Errorf("sweep forgotten calls: %w", err)
		}
		n += int(tag.RowsAffected())
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM forgotten_calls WHERE forgotten < now() - $1::interval`, forgottenKept.String()); err != nil {
		return n, fmt.Errorf("sweep forgotten calls: %w", err)
	}
	return n, nil
}
