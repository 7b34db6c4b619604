package store

import (
	"path/filepath"
	"testing"
	"time"
)

func TestAlertHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s := mustOpen(t, path, Options{})
	at := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	put := func(id, route string, state AlertState) {
		t.Helper()
		if err := s.PutAlert(Alert{ID: id, Route: route, Kind: "silence", State: state, FiredAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	put("20261130T140000Z-crm-silence", "crm", AlertResolved)
	put("20261130T150000Z-crm-auth", "crm", AlertFiring)
	put("20261130T160000Z-crmx-silence", "crmx", AlertFiring)
	put("20261130T140000Z-crm-silence", "crm", AlertResolved) // a state change rewrites it

	ids := func(q AlertQuery) []string {
		t.Helper()
		as, err := s.Alerts(q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	if got := ids(AlertQuery{}); len(got) != 3 || got[0] != "20261130T160000Z-crmx-silence" || got[2] != "20261130T140000Z-crm-silence" {
		t.Errorf("all, newest first: %v", got)
	}
	if got := ids(AlertQuery{Route: "crm"}); len(got) != 2 {
		t.Errorf("route crm (not crmx): %v", got)
	}
	if got := ids(AlertQuery{State: AlertFiring, Route: "crm"}); len(got) != 1 || got[0] != "20261130T150000Z-crm-auth" {
		t.Errorf("firing on crm: %v", got)
	}
	if got := ids(AlertQuery{Limit: 1}); len(got) != 1 {
		t.Errorf("limit 1: %v", got)
	}
	if err := s.PutAlert(Alert{}); err == nil {
		t.Error("an alert without id was written")
	}
	s.Close()

	// The history survives a restart.
	s2 := mustOpen(t, path, Options{})
	a, ok, err := s2.GetAlert("20261130T150000Z-crm-auth")
	if err != nil || !ok || a.State != AlertFiring || !a.FiredAt.Equal(at) {
		t.Fatalf("after reopening: %+v %v %v", a, ok, err)
	}
	if _, ok, err := s2.GetAlert("nope"); ok || err != nil {
		t.Errorf("unknown id: %v %v", ok, err)
	}
}
