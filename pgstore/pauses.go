package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/mtguard/mtguard/store"
)

// pauseTimeout bounds a pause's write or read: the limiter keeps its pause in memory either
// way, and a database that does not answer must not hold the hook's goroutine for long.
const pauseTimeout = 5 * time.Second

// PutPause keeps group's pause across restarts, as the bbolt store does; a zero Until
// without Probing forgets it.
func (s *Store) PutPause(group string, p store.Pause) error {
	ctx, cancel := context.WithTimeout(context.Background(), pauseTimeout)
	defer cancel()
	var err error
	if p.Until.IsZero() && !p.Probing {
		_, err = s.pool.Exec(ctx, `DELETE FROM limit_pauses WHERE grp = $1`, group)
	} else {
		_, err = s.pool.Exec(ctx, `INSERT INTO limit_pauses (grp, until, reason, probing) VALUES ($1, $2, $3, $4)
			ON CONFLICT (grp) DO UPDATE SET until = EXCLUDED.until, reason = EXCLUDED.reason, probing = EXCLUDED.probing`,
			group, p.Until, p.Reason, p.Probing)
	}
	if err != nil {
		return fmt.Errorf("keep the pause of limits group %s: %w", group, err)
	}
	return nil
}

// Pauses returns the kept pauses by limits group.
func (s *Store) Pauses() (map[string]store.Pause, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pauseTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT grp, until, reason, probing FROM limit_pauses`)
	if err != nil {
		return nil, fmt.Errorf("read kept pauses: %w", err)
	}
	defer rows.Close()
	out := map[string]store.Pause{}
	for rows.Next() {
		var group string
		var p store.Pause
		if err := rows.Scan(&group, &p.Until, &p.Reason, &p.Probing); err != nil {
			return nil, fmt.Errorf("read kept pauses: %w", err)
		}
		out[group] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read kept pauses: %w", err)
	}
	return out, nil
}
