package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// SaveJourneys writes the records in put and deletes those in del, in one transaction.
func (s *Store) SaveJourneys(put map[string][]byte, del []string) error {
	return s.saveKept(context.Background(), "", put, del)
}

// LoadJourneys calls fn with every record in flight, in key order (byte order, as bbolt).
func (s *Store) LoadJourneys(fn func(key string, v []byte) error) error {
	return s.loadKept(`SELECT key, body FROM journeys ORDER BY key`, fn)
}

// SaveShapes writes the learned shapes in put (route -> encoding) in one transaction.
func (s *Store) SaveShapes(put map[string][]byte) error {
	return s.saveShapes(context.Background(), "", put)
}

// LoadShapes calls fn with every route's learned shape.
func (s *Store) LoadShapes(fn func(route string, v []byte) error) error {
	return s.loadKept(`SELECT convert_to(route, 'UTF8'), body FROM shapes ORDER BY route`, fn)
}

// saveKept writes journeys records; with a job, only while this instance holds its lease.
func (s *Store) saveKept(ctx context.Context, job string, put map[string][]byte, del []string) error {
	if len(put) == 0 && len(del) == 0 {
		return nil
	}
	keys, bodies := make([][]byte, 0, len(put)), make([][]byte, 0, len(put))
	for k, v := range put {
		keys, bodies = append(keys, []byte(k)), append(bodies, v)
	}
	dels := make([][]byte, len(del))
	for i, k := range del {
		dels[i] = []byte(k)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.fence(ctx, tx, job); err != nil {
			return err
		}
		if len(dels) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM journeys WHERE key = ANY($1::bytea[])`, dels); err != nil {
				return err
			}
		}
		if len(keys) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO journeys (key, body) SELECT * FROM unnest($1::bytea[], $2::bytea[])
				ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body`, keys, bodies); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save journeys: %w", err)
	}
	return nil
}

func (s *Store) saveShapes(ctx context.Context, job string, put map[string][]byte) error {
	if len(put) == 0 {
		return nil
	}
	routes, bodies := make([]string, 0, len(put)), make([][]byte, 0, len(put))
	for r, v := range put {
		routes, bodies = append(routes, r), append(bodies, v)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.fence(ctx, tx, job); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO shapes (route, body) SELECT * FROM unnest($1::text[], $2::bytea[])
			ON CONFLICT (route) DO UPDATE SET body = EXCLUDED.body`, routes, bodies)
		return err
	})
	if err != nil {
		return fmt.Errorf("save shapes: %w", err)
	}
	return nil
}

func (s *Store) loadKept(sql string, fn func(key string, v []byte) error) error {
	rows, err := s.pool.Query(context.Background(), sql)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return fmt.Errorf("load: %w", err)
		}
		if err := fn(string(k), v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	return nil
}

// AddFinding appends f to the stored result of the call id and indexes it, as
// store.Store.AddFinding does: a call already carrying f's code and detail, without its
// result, or deleted meanwhile is left as is.
func (s *Store) AddFinding(id string, f txn.Finding) error {
	return s.AddFindings(store.FindingOn{Call: id, Finding: f})
}

// AddFindings is AddFinding for many calls, in one transaction. The call may have been
// recorded by any instance; this one's queued results are committed first.
func (s *Store) AddFindings(adds ...store.FindingOn) error {
	if len(adds) == 0 {
		return nil
	}
	ctx := context.Background()
	if err := s.barrier(ctx); err != nil {
		return fmt.Errorf("add finding: %w", err)
	}
	ids := make([]string, 0, len(adds))
	for _, a := range adds {
		if !slices.Contains(ids, a.Call) {
			ids = append(ids, a.Call)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT time, id, result FROM calls WHERE id = ANY($1) AND result IS NOT NULL FOR UPDATE`, ids)
		if err != nil {
			return err
		}
		type row struct {
			t  time.Time
			id string
			r  txn.Result
		}
		var found []*row
		for rows.Next() {
			var rw row
			var b []byte
			if err := rows.Scan(&rw.t, &rw.id, &b); err != nil {
				rows.Close()
				return err
			}
			if err := json.Unmarshal(b, &rw.r); err != nil {
				rows.Close()
				return fmt.Errorf("decode result %s: %w", rw.id, err)
			}
			found = append(found, &rw)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, rw := range found {
			changed := false
			for _, a := range adds {
				if a.Call != rw.id || slices.ContainsFunc(rw.r.Findings, func(g txn.Finding) bool { return g.Code == a.Finding.Code && g.Detail == a.Finding.Detail }) {
					continue
				}
				rw.r.Findings = append(rw.r.Findings, a.Finding)
				changed = true
			}
			if !changed {
				continue
			}
			b, err := json.Marshal(&rw.r)
			if err != nil {
				return fmt.Errorf("encode result %s: %w", rw.id, err)
			}
			if _, err := tx.Exec(ctx, `UPDATE calls SET result = $3, findings = $4 WHERE time = $1 AND id = $2`,
				rw.t, rw.id, b, nonNil(store.FindingCodes(&rw.r))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add finding: %w", err)
	}
	return nil
}

// Applied waits until every call this instance recorded before it is committed and handed
// to OnResult. Calls recorded by the other instances are the feed's (Committed).
func (s *Store) Applied(ctx context.Context) error { return s.barrier(ctx) }

// ForgetJourneys deletes the kept journey records keys (made by store.JourneyKey) and leaves
// note (a hash of the record key, never the key) for the instance running journeys, which
// may hold them in memory: it reads it with ForgottenJourneys and drops them.
func (s *Store) ForgetJourneys(ctx context.Context, keys []string, note string) error {
	bs := make([][]byte, len(keys))
	for i, k := range keys {
		bs[i] = []byte(k)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM journeys WHERE key = ANY($1::bytea[])`, bs); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO journey_forgets (note) VALUES ($1) ON CONFLICT (note) DO UPDATE SET at = now()`, note)
		return err
	})
	if err != nil {
		return fmt.Errorf("forget journeys: %w", err)
	}
	return nil
}

// ForgottenJourneys returns the notes ForgetJourneys left, oldest first.
func (s *Store) ForgottenJourneys(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT note FROM journey_forgets ORDER BY at, note`)
	if err != nil {
		return nil, fmt.Errorf("read forgotten journeys: %w", err)
	}
	notes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read forgotten journeys: %w", err)
	}
	return notes, nil
}

// DoneForgetting removes notes once the instance running journeys has dropped their records.
func (s *Store) DoneForgetting(ctx context.Context, notes []string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM journey_forgets WHERE note = ANY($1)`, notes); err != nil {
		return fmt.Errorf("forget journeys: %w", err)
	}
	return nil
}

// Forgetting reports whether note still waits for the instance running journeys.
func (s *Store) Forgetting(ctx context.Context, note string) (bool, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM journey_forgets WHERE note = $1`, note).Scan(&n); err != nil {
		return false, fmt.Errorf("forget journeys: %w", err)
	}
	return n > 0, nil
}

// VacuumJourneys reclaims the space of deleted journey records, so an erased record's bytes
// are gone from the table's files (VACUUM cannot run in a transaction).
func (s *Store) VacuumJourneys(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `VACUUM journeys`); err != nil {
		return fmt.Errorf("forget journeys: vacuum: %w", err)
	}
	return nil
}
