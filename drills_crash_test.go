package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
)

// TestDrillKilledMidway builds the real binary, starts a drill that answers every call of the
// route with 503 for ten minutes, kills mtguard with SIGKILL in the middle of it, and starts it
// again on the same store: the route is clean at once (its calls reach the vendor), and the
// drill is ended, by "restart", with its report.
func TestDrillKilledMidway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mtguard and kill -9s it; skipped with -short")
	}
	dir := t.TempDir()
	bin := buildMtguard(t, dir)
	vendor := &drillVendor{got: map[string]int{}}
	vsrv := httptest.NewServer(vendor)
	defer vsrv.Close()
	storePath := filepath.Join(dir, "mtguard.db")

	start := func(run int) (*crashProc, string) {
		t.Helper()
		p, admin := startServe(t, bin, dir, fmt.Sprintf("run%d", run), crashConfig(storePath, vsrv.URL))
		return p, "http://" + admin
	}
	post := func(p *crashProc) int {
		t.Helper()
		resp, err := http.Post("http://"+p.data+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"jane@acme.com"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cli := func(admin string, args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), append(append([]string{"mtguard"}, args...), "--admin", admin), &out, &out, func(string) string { return "" }); err != nil {
			t.Fatalf("mtguard %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}

	p, admin := start(1)
	var d store.Drill
	if err := json.Unmarshal([]byte(cli(admin, "drill", "start", "--route", "crm", "--fault", "status:503", "--for", "10m", "--json")), &d); err != nil {
		t.Fatal(err)
	}
	if got := post(p); got != http.StatusServiceUnavailable || vendor.hits("/v1/leads") != 0 {
		t.Fatalf("during the drill: %d, vendor calls %d", got, vendor.hits("/v1/leads"))
	}
	p.kill()

	p, admin = start(2)
	if got := post(p); got != http.StatusOK || vendor.hits("/v1/leads") != 1 {
		t.Fatalf("after the restart the route is still faulted: %d, vendor calls %d", got, vendor.hits("/v1/leads"))
	}
	var after store.Drill
	if err := json.Unmarshal([]byte(cli(admin, "drill", "status", d.ID, "--json")), &after); err != nil {
		t.Fatal(err)
	}
	if after.State != store.DrillEnded || after.EndedBy != "restart" || after.Report == nil || after.Report.Calls != 1 ||
		after.EndedAt.Before(d.StartedAt) || after.EndedAt.After(time.Now()) {
		t.Errorf("the drill after the restart: %+v (report %+v)", after, after.Report)
	}
	log, _ := os.ReadFile(p.stderr)
	if !bytes.Contains(log, []byte(d.ID)) || !bytes.Contains(log, []byte("a restart never resumes a drill")) {
		t.Errorf("the restart does not report the drill it ended:\n%s", log)
	}
}
