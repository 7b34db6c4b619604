package bench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// The durable reference: the bare proxy plus the one thing the issue asks of every call
// before it leaves, a write that has reached the disk. Each request (method, URL, headers,
// body) is appended to a file and fdatasync'd, many requests per sync (group commit), and
// only then forwarded. No encoding, no indexes, no bbolt, no second writer: what it adds
// over the bare proxy is what durability alone costs on this machine, so the benchmark can
// tell the disk's share of mtguard's added latency from mtguard's own.

// syncLogSize is the benchmark's reference log's preallocated size. The log wraps around inside it: it is
// never read, and overwriting blocks the file already has keeps each fdatasync to data only,
// as mtguard's journal does.
const syncLogSize = 64 << 20

// syncLog is a group-committed append-only file.
type syncLog struct {
	f    *os.File
	size int64
	off  int64
	reqs chan syncReq
}

type syncReq struct {
	rec  []byte
	done chan error
}

// openSyncLog creates the log at path, size bytes of zeros and synced, and starts its writer.
func openSyncLog(path string, size int64) (*syncLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	zeros := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(zeros)) {
		if _, err := f.Write(zeros[:min(int64(len(zeros)), size-n)]); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		f.Close()
		return nil, err
	}
	l := &syncLog{f: f, size: size, reqs: make(chan syncReq, 4096)}
	go l.loop()
	return l, nil
}

// loop writes everything queued with one write and one fdatasync, then wakes the waiters.
func (l *syncLog) loop() {
	var buf []byte
	var waiting []chan error
	for r := range l.reqs {
		buf, waiting = append(buf[:0], r.rec...), append(waiting[:0], r.done)
	drain:
		for {
			select {
			case r := <-l.reqs:
				buf, waiting = append(buf, r.rec...), append(waiting, r.done)
			default:
				break drain
			}
		}
		if l.off+int64(len(buf)) > l.size {
			l.off = 0
		}
		_, err := l.f.WriteAt(buf, l.off)
		if err == nil {
			err = syscall.Fdatasync(int(l.f.Fd()))
		}
		l.off += int64(len(buf))
		for _, w := range waiting {
			w <- err
		}
	}
}

// append returns once rec is on disk.
func (l *syncLog) append(rec []byte) error {
	done := make(chan error, 1)
	l.reqs <- syncReq{rec: rec, done: done}
	return <-done
}

// syncFirst is the durable reference's transport: it logs each request durably, then
// forwards it.
type syncFirst struct {
	log  *syncLog
	next http.RoundTripper
}

func (t syncFirst) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	var rec bytes.Buffer
	fmt.Fprintf(&rec, "%s %s\n", req.Method, req.URL)
	req.Header.Write(&rec)
	rec.WriteString("\n")
	rec.Write(body)
	if err := t.log.append(rec.Bytes()); err != nil {
		return nil, fmt.Errorf("log request: %w", err)
	}
	out := *req // a RoundTripper must not change the request it was given
	if req.Body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return t.next.RoundTrip(&out)
}

// TestDurableReference checks that the benchmark's durable reference does what its numbers
// are read as: every request is in the log file before the vendor sees it, and is then
// forwarded unchanged.
func TestDurableReference(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sync.log")
	l, err := openSyncLog(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer close(l.reqs)
	defer l.f.Close()
	var seen atomic.Int32
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		logged, err := os.ReadFile(path)
		switch {
		case err != nil:
			t.Errorf("read log: %v", err)
		case !bytes.Contains(logged, body):
			t.Errorf("vendor got %q before it was in the log", body)
		default:
			seen.Add(1)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer vendor.Close()
	client := &http.Client{Transport: syncFirst{log: l, next: http.DefaultTransport}}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			body := fmt.Sprintf(`{"properties":{"email":"lead-%d@example.com"}}`, i)
			resp, err := client.Post(vendor.URL+"/crm/v3/objects/contacts", "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := seen.Load(); n != 20 {
		t.Fatalf("vendor saw %d logged requests, want 20", n)
	}
}
