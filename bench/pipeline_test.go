package bench

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtguard/mtguard/config"
)

// envBenchProfileName names a profiled mtguard child's profile files (<name>.cpu.pprof), so
// that the three mtguard children do not write over each other's.
const envBenchProfileName = "MTGUARD_BENCH_PROFILE_NAME"

// invalidAnswer is vendorAnswer with archived as a string: HubSpot's create-contact response
// schema wants a boolean, so with the builtin contracts in warn mode every call through the
// "findings" target is delivered with a contract finding.
var invalidAnswer = bytes.Replace(vendorAnswer, []byte(`"archived":false`), []byte(`"archived":"false"`), 1)

// pipelineRoute is the full pipeline the issue prices: a preset's rules, the builtin HubSpot
// contracts in warn mode (request and response validated on every call), record keys, and
// redaction of a body field beside the Authorization header. The preset is generic:
// hubspot's would throttle the benchmark to HubSpot's 100 calls per 10 s, which a route may
// tighten but not loosen.
const pipelineRoute = `    preset: generic
    contracts: {mode: warn, builtin: [hubspot]}
`

// pipelineRedact redacts a body field that every benchmark contact has, so the stored body is
// rewritten on every call.
const pipelineRedact = "redact: {fields: [mobilephone]}\n"

// startPipelineChildren starts the two full-pipeline mtguard children, "full" (the vendor
// answers as the contract says) and "findings" (the vendor's answer breaks the response
// schema, so every call carries a finding), each with its own store and config. The findings
// child's vendor is a twin of vendor, answering invalidAnswer at the same delay.
//
// suffix is added to the targets' names: "-before" for another build's binary
// (MTGUARD_BENCH_BEFORE).
func startPipelineChildren(b *testing.B, bin mtguardBinary, suffix, dir, name string, vendor *fakeVendor, opts benchOptions) map[string]*benchChildProc {
	b.Helper()
	out := map[string]*benchChildProc{}
	if opts.baseline != "" {
		return out // the comparison of two builds is on recording only
	}
	bad := vendor.twin
	if bad == nil {
		bad = newFakeVendorAnswering(invalidAnswer)
		b.Cleanup(bad.Close)
		vendor.twin = bad
	}
	for _, t := range []struct{ mode, upstream string }{{"full" + suffix, vendor.URL}, {"findings" + suffix, bad.URL}} {
		if opts.targets != nil && !containsString(opts.targets, strings.TrimSuffix(t.mode, suffix)) {
			continue
		}
		db, cfg := filepath.Join(dir, name+"-"+t.mode+".db"), filepath.Join(dir, name+"-"+t.mode+".yaml")
		b.Cleanup(func() { os.Remove(db); os.Remove(cfg) })
		yaml := fmt.Sprintf(`listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
store: {path: %q}
%sroutes:
  - name: hubspot
    prefix: %s
    upstream: %s
    record_keys: [properties.email, "inputs[].properties.email"]
%s`, db, pipelineRedact, benchPrefix, t.upstream, pipelineRoute)
		if _, err := config.Parse(cfg, []byte(yaml)); err != nil {
			b.Fatalf("benchmark config %s: %v", t.mode, err)
		}
		if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
			b.Fatal(err)
		}
		c := startBenchChild(b, t.mode, bin.path, serveArgs(cfg, opts), opts, envBenchProfileName+"="+t.mode)
		c.profiled = bin.profiled
		out[t.mode] = c
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// targetList reads MTGUARD_BENCH_TARGETS: nil (all targets) when empty.
func targetList(v string) []string {
	var out []string
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// nginxProc is nginx as a second reference proxy: a master and its workers, whose CPU times
// are summed.
type nginxProc struct {
	cmd  *exec.Cmd
	addr string
}

// pids returns the master's pid and its workers'.
func (n *nginxProc) pids() []int {
	pids := []int{n.cmd.Process.Pid}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", n.cmd.Process.Pid, n.cmd.Process.Pid))
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// nginxConf proxies the benchmark's prefix to the vendor with keep-alive connections, logging
// nothing per call: the configuration a careful operator would give a plain reverse proxy.
const nginxConf = `daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream vendor { server %[2]s; keepalive 128; }
  server {
    listen %[3]s;
    location %[4]s/ {
      proxy_pass http://vendor/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`

// startNginx starts nginx as a reference when it is installed, nil (with a message) when not.
func startNginx(b *testing.B, dir, name, vendorURL string, opts benchOptions) *nginxProc {
	b.Helper()
	if opts.baseline != "" || opts.targets != nil && !containsString(opts.targets, "nginx") {
		return nil
	}
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, err2 := os.Stat(p); err2 == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		fmt.Println("bench: nginx is not installed (apt-get install nginx): no nginx reference in this run")
		return nil
	}
	ndir := filepath.Join(dir, name+"-nginx")
	if err := os.MkdirAll(ndir, 0o755); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(ndir) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(ndir, "nginx.conf")
	vendorHost := strings.TrimPrefix(vendorURL, "http://")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, ndir, vendorHost, addr, benchPrefix), 0o644); err != nil {
		b.Fatal(err)
	}
	args := []string{"-c", conf, "-p", ndir, "-e", "stderr"}
	name0 := bin
	if opts.cpus != "" {
		name0, args = "taskset", append([]string{"-c", opts.cpus, bin}, args...)
	}
	cmd := exec.Command(name0, args...)
	var stderr cappedBuffer
	stderr.max = 16 << 10
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start nginx: %v", err)
	}
	n := &nginxProc{cmd: cmd, addr: addr}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT) // graceful shutdown
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			b.Fatalf("nginx exited before serving: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("nginx did not listen on %s within 10s: %s", addr, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The workers are forked after the listener opens; wait for them so pids() sees them.
	for deadline := time.Now().Add(5 * time.Second); len(n.pids()) < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

// quiet waits until the pids have used no CPU for 200 ms (at most 5 s): the work a phase left
// behind (queued commits, a GC cycle) is charged to that phase.
func quiet(pids []int) {
	if len(pids) == 0 {
		return
	}
	last, still := procCPU(pids...), 0
	for deadline := time.Now().Add(5 * time.Second); still < 2 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		now := procCPU(pids...)
		if now == last {
			still++
		} else {
			still = 0
		}
		last = now
	}
}

// procStatus returns a field of /proc/<pid>/status in bytes (VmRSS, VmHWM), 0 if unknown.
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10 // kB
			}
		}
	}
	return 0
}

func procRSS(pid int) int64 { return procStatus(pid, "VmRSS") }
func procHWM(pid int) int64 { return procStatus(pid, "VmHWM") }

// roundLine gives the ratios of one round (the last phases of each target), as they come.
func roundLine(round int, results []map[string][]phaseResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "round %d:", round+1)
	at := func(m map[string][]phaseResult, t string) (phaseResult, bool) {
		if len(m[t]) <= round {
			return phaseResult{}, false
		}
		return m[t][round], true
	}
	bareFast, ok := at(results[0], "bare")
	if !ok {
		return b.String()
	}
	for _, t := range []string{"nginx", "mtguard", "full", "findings", "mtguard-before", "full-before", "findings-before"} {
		if r, ok := at(results[0], t); ok {
			fmt.Fprintf(&b, " %s ×%.2f tput ×%.2f CPU;", t, r.rps()/bareFast.rps(), r.cpuPerCall()/bareFast.cpuPerCall())
		}
	}
	for _, t := range []string{"mtguard", "full", "findings"} {
		r, ok1 := at(results[0], t)
		o, ok2 := at(results[0], t+"-before")
		if ok1 && ok2 {
			fmt.Fprintf(&b, " %s÷before ×%.2f CPU;", t, r.cpuPerCall()/o.cpuPerCall())
		}
	}
	direct, ok := at(results[1], "direct")
	if !ok {
		return b.String()
	}
	b.WriteString(" slow vendor, added p50/p99 over direct:")
	for _, t := range []string{"bare", "nginx", "durable", "mtguard", "full", "findings", "mtguard-before", "full-before", "findings-before"} {
		if r, ok := at(results[1], t); ok {
			fmt.Fprintf(&b, " %s %+.1f/%+.1f ms", t, r.pct(50)-direct.pct(50), r.pct(99)-direct.pct(99))
		}
	}
	return b.String()
}

// pipelineTable is the table: each proxy against the bare one (instant vendor), its
// added latency at the slow vendor, and the mtguard children's memory.
func (s benchSummary) pipelineTable(opts benchOptions, mem map[string]*benchChildProc) string {
	fast, slow := s.results[0], s.results[1]
	var b strings.Builder
	fmt.Fprintf(&b, "\nCPU per call counts the whole proxy process (from before the warm-up until it is quiet after the load) over every call it answered; ratios are medians of per-round ratios.\n")
	fmt.Fprintf(&b, "%-15s %12s %12s %14s %14s %16s %16s %8s %8s %8s\n", "target", "tput÷bare", "CPU÷bare", "CPU÷bare 20ms", "p50+ 20ms", "p99+ 20ms", "p99−durable", "RSS rest", "RSS peak", "RSS idle")
	tput := func(a, b phaseResult) float64 { return a.rps() / b.rps() }
	cpu := func(a, b phaseResult) float64 { return a.cpuPerCall() / b.cpuPerCall() }
	p50 := func(a, b phaseResult) float64 { return a.pct(50) - b.pct(50) }
	p99 := func(a, b phaseResult) float64 { return a.pct(99) - b.pct(99) }
	mb := func(n int64) string {
		if n == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f MB", float64(n)/(1<<20))
	}
	for _, t := range []string{"bare", "nginx", "durable", "mtguard", "full", "findings", "mtguard-before", "full-before", "findings-before"} {
		if len(fast[t]) == 0 && len(slow[t]) == 0 {
			continue
		}
		cell := func(m map[string][]phaseResult, f func(a, b phaseResult) float64, against, format string) string {
			if len(m[t]) == 0 || len(m[against]) == 0 {
				return "-"
			}
			return fmt.Sprintf(format, paired(m, t, against, f))
		}
		rest, peak, idle := "-", "-", "-"
		if c := mem[t]; c != nil {
			rest, peak, idle = mb(c.rssStart), mb(c.rssPeak), mb(c.rssIdle)
		}
		over := "-"
		if t != "durable" {
			over = cell(slow, p99, "durable", "%+.2f ms")
		}
		fmt.Fprintf(&b, "%-15s %12s %12s %14s %14s %16s %16s %8s %8s %8s\n", t,
			cell(fast, tput, "bare", "%.2f×"), cell(fast, cpu, "bare", "%.2f×"), cell(slow, cpu, "bare", "%.2f×"),
			cell(slow, p50, "direct", "%+.2f ms"), cell(slow, p99, "direct", "%+.2f ms"), over, rest, peak, idle)
	}
	for _, t := range []string{"mtguard", "full", "findings"} {
		if len(fast[t]) > 0 && len(fast[t+"-before"]) > 0 {
			fmt.Fprintf(&b, "%s against the build before (MTGUARD_BENCH_BEFORE), paired by round: CPU per call ×%.2f at the instant vendor, ×%.2f at 20 ms; p99 at 20 ms %+.2f ms\n", t,
				paired(fast, t, t+"-before", cpu), paired(slow, t, t+"-before", cpu), paired(slow, t, t+"-before", p99))
		}
	}
	b.WriteString("calls answered over the run, warm-up included (to turn a profile's seconds into µs per call):")
	for _, t := range benchTargets {
		n := 0
		for d := range s.results {
			for _, r := range s.results[d][t] {
				n += r.answered
			}
		}
		if n > 0 {
			fmt.Fprintf(&b, " %s %d", t, n)
		}
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "goals: mtguard tput ≥ 0.90×, CPU ≤ 1.30×; full and findings CPU ≤ 1.60×; p99 at 20 ms ≤ durable + 1 ms, p50 ≤ +3 ms; RSS peak ≤ 128 MB, idle ≤ 40 MB (idle read after %v without calls)", opts.idle)
	return b.String()
}
