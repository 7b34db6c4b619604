package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mtguard/mtguard/store"
)

// PutDrill stores d, replacing the drill with its id.
func (s *Store) PutDrill(d store.Drill) error {
	if d.ID == "" {
		return fmt.Errorf("put drill: empty id")
	}
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode drill %s: %w", d.ID, err)
	}
	_, err = s.pool.Exec(context.Background(), `INSERT INTO drills (id, state, body) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, body = EXCLUDED.body`, d.ID, d.State, b)
	if err != nil {
		return fmt.Errorf("put drill %s: %w", d.ID, err)
	}
	return nil
}

// GetDrill returns the drill with id; ok is false when there is none.
func (s *Store) GetDrill(id string) (d store.Drill, ok bool, err error) {
	var b []byte
	err = s.pool.QueryRow(context.Background(), `SELECT body FROM drills WHERE id = $1`, id).Scan(&b)
	if err == pgx.ErrNoRows {
		return store.Drill{}, false, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &d)
	}
	if err != nil {
		return store.Drill{}, false, fmt.Errorf("get drill %s: %w", id, err)
	}
	return d, true, nil
}

// Drills returns the drills in state (every state when empty), newest first, at most limit.
func (s *Store) Drills(state string, limit int) ([]store.Drill, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.pool.Query(context.Background(),
		`SELECT body FROM drills WHERE ($1 = '' OR state = $1) ORDER BY id DESC LIMIT $2`, state, limit)
	if err != nil {
		return nil, fmt.Errorf("list drills: %w", err)
	}
	defer rows.Close()
	out := []store.Drill{}
	for rows.Next() {
		var b []byte
		var d store.Drill
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("list drills: %w", err)
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("decode drill: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list drills: %w", err)
	}
	return out, nil
}
