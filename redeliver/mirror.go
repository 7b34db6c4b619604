package redeliver

import (
	"context"
	"errors"
	"slices"

	"github.com/mtguard/mtguard/store"
)

// mirror is the delivery queue in memory, as the redeliverer last wrote or read it: the
// scheduler looks at it rather than decoding the whole bucket on every wake, which a backlog
// of a down vendor's calls would make costly. The store stays the truth: every change is
// written there first, and Run loads the mirror from it. r.mu guards it.
type mirror struct {
	byID   map[string]store.Delivery
	ids    []string // oldest first once sorted; may hold ids no longer in byID
	sorted bool
	gone   int // ids no longer in byID
}

func newMirror() mirror { return mirror{byID: map[string]store.Delivery{}, sorted: true} }

// put records d as written (removed: taken out of the queue). r.mu is held.
func (m *mirror) put(d store.Delivery, removed bool) {
	_, had := m.byID[d.ID]
	switch {
	case removed && had:
		delete(m.byID, d.ID)
		m.gone++
	case removed:
	case !had:
		m.byID[d.ID] = d
		if n := len(m.ids); n > 0 && d.ID < m.ids[n-1] {
			m.sorted = false
		}
		m.ids = append(m.ids, d.ID)
	default:
		m.byID[d.ID] = d
	}
}

// each calls f for the deliveries oldest first until it returns false. r.mu is held.
func (m *mirror) each(f func(store.Delivery) bool) {
	if m.gone > len(m.byID) {
		m.ids = slices.DeleteFunc(m.ids, func(id string) bool { _, ok := m.byID[id]; return !ok })
		m.gone = 0
	}
	if !m.sorted {
		slices.Sort(m.ids)
		m.ids = slices.Compact(m.ids)
		m.sorted = true
	}
	for _, id := range m.ids {
		d, ok := m.byID[id]
		if ok && !f(d) {
			return
		}
	}
}

// load replaces the mirror with the store's queue.
func (r *Redeliverer) load(ctx context.Context) error {
	if sq, ok := r.cfg.Queue.(SharedQueue); ok {
		return r.loadShared(ctx, sq)
	}
	all, err := r.cfg.Queue.Deliveries(ctx, store.DeliveryFilter{})
	if err != nil {
		return err
	}
	m := newMirror()
	for _, d := range all {
		m.put(d, false)
	}
	r.mu.Lock()
	r.mem = m
	r.mu.Unlock()
	return nil
}

// update is the store's UpdateDelivery, mirrored.
func (r *Redeliverer) update(id string, fn func(*store.Delivery) error) (store.Delivery, error) {
	removed := false
	d, err := r.cfg.Queue.UpdateDelivery(id, func(d *store.Delivery) error {
		err := fn(d)
		removed = errors.Is(err, store.ErrDeliveryDone)
		return err
	})
	if err == nil {
		r.mu.Lock()
		r.mem.put(d, removed)
		r.mu.Unlock()
	}
	return d, err
}

// enqueue is the store's Enqueue, mirrored.
func (r *Redeliverer) enqueue(d store.Delivery) error {
	if err := r.cfg.Queue.Enqueue(d); err != nil {
		return err
	}
	r.mu.Lock()
	r.mem.put(d, false)
	r.mu.Unlock()
	return nil
}
