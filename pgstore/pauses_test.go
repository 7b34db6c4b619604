package pgstore_test

import (
	"maps"
	"testing"
	"time"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/store"
)

// TestPauses keeps, replaces and forgets limits pauses as the bbolt store does.
func TestPauses(t *testing.T) {
	s := openPG(t, freshSchema(t), pgstore.Options{})
	until := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Microsecond)
	steps := []struct {
		name  string
		group string
		p     store.Pause
		want  map[string]store.Pause
	}{
		{"a spent quota", "daily", store.Pause{Until: until, Reason: "quota"}, map[string]store.Pause{"daily": {Until: until, Reason: "quota"}}},
		{"a second group probing", "rolling", store.Pause{Until: until, Reason: "probe", Probing: true},
			map[string]store.Pause{"daily": {Until: until, Reason: "quota"}, "rolling": {Until: until, Reason: "probe", Probing: true}}},
		{"replaced", "daily", store.Pause{Until: until.Add(time.Hour), Reason: "later"},
			map[string]store.Pause{"daily": {Until: until.Add(time.Hour), Reason: "later"}, "rolling": {Until: until, Reason: "probe", Probing: true}}},
		{"forgotten", "rolling", store.Pause{}, map[string]store.Pause{"daily": {Until: until.Add(time.Hour), Reason: "later"}}},
	}
	for _, st := range steps {
		if err := s.PutPause(st.group, st.p); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := s.Pauses()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		eq := maps.EqualFunc(got, st.want, func(a, b store.Pause) bool {
			return a.Until.Equal(b.Until) && a.Reason == b.Reason && a.Probing == b.Probing
		})
		if !eq {
			t.Fatalf("%s: pauses %+v, want %+v", st.name, got, st.want)
		}
	}
}
