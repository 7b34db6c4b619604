package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/store"
)

// TestDeliveriesClaimedOnce: an instance works the deliveries it queued; while it lives nobody
// claims them; once its lease ran out, two instances claiming at once each take some and
// together all, none twice.
func TestDeliveriesClaimedOnce(t *testing.T) {
	schema := freshSchema(t)
	a := openPG(t, schema, pgstore.Options{Instance: "a"})
	b := openPG(t, schema, pgstore.Options{Instance: "b"})
	c := openPG(t, schema, pgstore.Options{Instance: "c"})
	ctx := context.Background()
	const n = 200
	var want []string
	for i := range n {
		id := fmt.Sprintf("D%04d", i)
		want = append(want, id)
		if err := a.Enqueue(store.Delivery{ID: id, Route: "crm", Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	idsOf := func(ds []store.Delivery, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	if got := idsOf(a.OwnDeliveries(ctx)); !slices.Equal(got, want) {
		t.Fatalf("a owns %d deliveries, want %d", len(got), n)
	}
	if got := idsOf(b.OwnDeliveries(ctx)); len(got) != 0 {
		t.Fatalf("b owns %v", got)
	}
	if got := idsOf(b.ClaimDeliveries(ctx)); len(got) != 0 {
		t.Fatalf("b claimed %d deliveries of a live instance", len(got))
	}
	pgstore.Crash(a)
	if _, err := schemaPool(t, schema).Exec(ctx, `UPDATE instances SET expires = now() - interval '1 second' WHERE id = 'a'`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([][]string, 2)
	for i, s := range []*pgstore.Store{b, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = idsOf(s.ClaimDeliveries(ctx))
		}()
	}
	wg.Wait()
	all := slices.Concat(got[0], got[1])
	slices.Sort(all)
	if !slices.Equal(all, want) {
		t.Fatalf("b claimed %d and c %d, together %d distinct of %d", len(got[0]), len(got[1]), len(slices.Compact(slices.Clone(all))), n)
	}
	if mine := idsOf(b.OwnDeliveries(ctx)); !slices.Equal(mine, got[0]) {
		t.Fatalf("b owns %d deliveries, claimed %d", len(mine), len(got[0]))
	}
	// Only the owner changes a delivery.
	other := got[1]
	if len(other) == 0 {
		other = got[0]
	}
	owner, notOwner := c, b
	if len(got[1]) == 0 {
		owner, notOwner = b, c
	}
	if _, err := notOwner.UpdateDelivery(other[0], func(d *store.Delivery) error { d.State = store.DeliveryRetrying; return nil }); !errors.Is(err, pgstore.ErrOwnedElsewhere) {
		t.Fatalf("a change by an instance that does not own the delivery: %v", err)
	}
	if _, err := owner.UpdateDelivery(other[0], func(d *store.Delivery) error { d.State = store.DeliveryRetrying; return nil }); err != nil {
		t.Fatalf("a change by its owner: %v", err)
	}
	if again := idsOf(c.ClaimDeliveries(ctx)); len(again) != 0 {
		t.Fatalf("claimed %d deliveries twice", len(again))
	}
	// A clean stop leaves its deliveries to the others at once.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if took := idsOf(b.ClaimDeliveries(ctx)); !slices.Equal(took, got[1]) {
		t.Fatalf("after c stopped b claimed %d deliveries, want c's %d", len(took), len(got[1]))
	}
}

// TestCloseReleasesLeases: a stopping instance gives up the jobs it led, so another takes
// them at its next try rather than when the lease runs out.
func TestCloseReleasesLeases(t *testing.T) {
	schema := freshSchema(t)
	a := openPG(t, schema, pgstore.Options{Instance: "a"})
	b := openPG(t, schema, pgstore.Options{Instance: "b"})
	ctx := context.Background()
	if ok, err := a.Lead(ctx, "alerts", time.Hour); !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, _ := b.Lead(ctx, "alerts", time.Hour); ok {
		t.Fatal("b leads while a holds the lease")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Lead(ctx, "alerts", time.Hour); !ok || err != nil {
		t.Fatalf("b after a stopped: %v %v", ok, err)
	}
}
