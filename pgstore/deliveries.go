package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/mtguard/mtguard/store"
)

// The delivery queue, as the bbolt store keeps it (store/deliveries.go), with one addition for
// several instances: each delivery has an owner, the instance that queued it. An instance's
// redeliverer works its own deliveries only (OwnDeliveries), so each is attempted by one
// instance at a time; when an instance dies, another claims its deliveries (ClaimDeliveries,
// FOR UPDATE SKIP LOCKED: two claimers never take the same one).

// Enqueue adds d to the queue, owned by this instance; a delivery with its id already there is
// refused with store.ErrDeliveryExists.
func (s *Store) Enqueue(d store.Delivery) error {
	if d.ID == "" || d.Route == "" {
		return errors.New("enqueue delivery: id and route are required")
	}
	if d.State == "" {
		d.State = store.DeliveryPending
	}
	if d.RecordKeys == nil {
		d.RecordKeys = []string{}
	}
	if d.Attempts == nil {
		d.Attempts = []store.DeliveryAttempt{}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("enqueue delivery %s: %w", d.ID, err)
	}
	tag, err := s.pool.Exec(context.Background(), `INSERT INTO deliveries (id, route, state, owner, body) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO NOTHING`, d.ID, d.Route, d.State, s.instance, b)
	if err != nil {
		return fmt.Errorf("enqueue delivery %s: %w", d.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("enqueue delivery %s: %w", d.ID, store.ErrDeliveryExists)
	}
	return nil
}

// Deliveries lists the queue of every instance matching f, oldest first.
func (s *Store) Deliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error) {
	return s.deliveries(ctx, `SELECT body FROM deliveries WHERE ($1 = '' OR route = $1) AND ($2 = '' OR state = $2) ORDER BY id`, f.Route, f.State)
}

// OwnDeliveries lists the deliveries this instance works, oldest first.
func (s *Store) OwnDeliveries(ctx context.Context) ([]store.Delivery, error) {
	return s.deliveries(ctx, `SELECT body FROM deliveries WHERE owner = $1 ORDER BY id`, s.instance)
}

// ClaimDeliveries makes this instance the owner of the deliveries of instances whose lease ran
// out (they died, or stopped and left work behind) and returns them, oldest first. Rows another
// claimer holds are skipped, not waited for: each delivery goes to one instance.
//
// Claims are serialised by a transaction advisory lock: with SKIP LOCKED alone, a claimer whose
// statement began before another's claim committed could lock the rows just after that commit
// and take them a second time (seen under load: two claimers each returned all 200). Claims
// run every few seconds per instance, so waiting for the lock costs nothing.
func (s *Store) ClaimDeliveries(ctx context.Context) ([]store.Delivery, error) {
	var out []store.Delivery
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('mtguard.claim-deliveries.' || current_schema()))`); err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		var err error
		out, err = scanDeliveries(tx.Query(ctx, `UPDATE deliveries SET owner = $1 WHERE id IN (
				SELECT d.id FROM deliveries d
				WHERE d.owner <> $1 AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = d.owner AND i.expires > now())
				FOR UPDATE SKIP LOCKED)
			RETURNING body`, s.instance))
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Delivery) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

func (s *Store) deliveries(ctx context.Context, sql string, args ...any) ([]store.Delivery, error) {
	return scanDeliveries(s.pool.Query(ctx, sql, args...))
}

func scanDeliveries(rows pgx.Rows, err error) ([]store.Delivery, error) {
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	out := []store.Delivery{}
	for rows.Next() {
		var b []byte
		var d store.Delivery
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("decode delivery: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// GetDelivery returns the delivery of call id, or an error wrapping store.ErrNotFound.
func (s *Store) GetDelivery(id string) (store.Delivery, error) {
	var b []byte
	err := s.pool.QueryRow(context.Background(), `SELECT body FROM deliveries WHERE id = $1`, id).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	var d store.Delivery
	if err == nil {
		err = json.Unmarshal(b, &d)
	}
	if err != nil {
		return store.Delivery{}, fmt.Errorf("delivery %s: %w", id, err)
	}
	return d, nil
}

// ErrOwnedElsewhere refuses a change to a delivery another running instance works: only its
// owner attempts it, retries or drops it, so it is never sent twice at once.
var ErrOwnedElsewhere = errors.New("another instance works this delivery")

// UpdateDelivery reads, changes and writes back the delivery of call id in one transaction
// holding its row, committed when it returns. fn returning store.ErrDeliveryDone removes it;
// any other error leaves it as it was and is returned. It returns the delivery as written.
// A delivery another live instance owns is refused (ErrOwnedElsewhere); one whose owner is
// gone becomes this instance's.
func (s *Store) UpdateDelivery(id string, fn func(*store.Delivery) error) (store.Delivery, error) {
	var d store.Delivery
	err := pgx.BeginFunc(context.Background(), s.pool, func(tx pgx.Tx) error {
		var b []byte
		var owner string
		var mine bool
		err := tx.QueryRow(context.Background(), `SELECT body, owner,
				owner = $2 OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = owner AND i.expires > now())
			FROM deliveries WHERE id = $1 FOR UPDATE`, id, s.instance).Scan(&b, &owner, &mine)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if !mine {
			return fmt.Errorf("%w (instance %s); run the command against that instance's admin API", ErrOwnedElsewhere, owner)
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		d.Attempts = slices.Clip(d.Attempts)
		switch err := fn(&d); {
		case errors.Is(err, store.ErrDeliveryDone):
			_, err := tx.Exec(context.Background(), `DELETE FROM deliveries WHERE id = $1`, id)
			return err
		case err != nil:
			return err
		}
		nb, err := json.Marshal(d)
		if err != nil {
			return err
		}
		_, err = tx.Exec(context.Background(), `UPDATE deliveries SET route = $2, state = $3, body = $4, owner = $5 WHERE id = $1`, id, d.Route, d.State, nb, s.instance)
		return err
	})
	if err != nil {
		return d, fmt.Errorf("delivery %s: %w", id, err)
	}
	return d, nil
}
