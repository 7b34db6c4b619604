package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
)

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestDemoFlags: demo --listen and --admin choose the ports; --keep says where the store is
// and how to look at it later (a config that serve opens); after --once the "try" commands
// say that they need the demo running.
func TestDemoFlags(t *testing.T) {
	listen, admin := freePort(t), freePort(t)
	var out strings.Builder
	args := []string{"mtguard", "demo", "--once", "--keep", "--listen", fmt.Sprintf("127.0.0.1:%d", listen), "--admin", fmt.Sprintf("127.0.0.1:%d", admin)}
	if err := run(context.Background(), args, &out, io.Discard, func(string) string { return "" }); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		fmt.Sprintf("mtguard in front of it at http://127.0.0.1:%d", listen),
		fmt.Sprintf("through its admin API, http://127.0.0.1:%d", admin),
		"need the demo running",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	m := regexp.MustCompile(`serve --config (\S+mtguard\.yaml)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("demo --keep does not say how to look at the kept store:\n%s", text)
	}
	cfgPath := m[1]
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(cfgPath)) })
	if !strings.Contains(text, filepath.Join(filepath.Dir(cfgPath), "mtguard-demo.db")) {
		t.Errorf("demo --keep does not print the store's path:\n%s", text)
	}
	// The kept store opens with the config it printed, and holds the demo's calls.
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != fmt.Sprintf("127.0.0.1:%d", listen) || cfg.Admin.Listen != fmt.Sprintf("127.0.0.1:%d", admin) {
		t.Errorf("kept config listens on %s and %s, not the demo's ports", cfg.Listen, cfg.Admin.Listen)
	}
	cfg.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0"
	s, err := startServer(context.Background(), cfg, func(string) string { return "" }, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.shutdown()
	page, err := (&inspect.Client{BaseURL: "http://" + s.adminAddr}).List(context.Background(), store.Query{RecordKey: "jane@acme.com"})
	if err != nil || len(page.Transactions) == 0 {
		t.Errorf("the kept store has no call for jane@acme.com: %v", err)
	}
}

// TestDemoPortTaken: a port given with --listen or --admin is used as given; when it is taken
// the demo says so and which flag chooses another.
func TestDemoPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out strings.Builder
	err = run(context.Background(), []string{"mtguard", "demo", "--once", "--admin", ln.Addr().String()}, &out, io.Discard, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), "--admin") {
		t.Fatalf("demo on a taken admin port: %v\n%s", err, out.String())
	}
}
