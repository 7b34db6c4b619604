package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mtguard/mtguard/store"
)

// Backuper streams a consistent copy of the transaction log; *store.Store satisfies it.
type Backuper interface {
	Backup(ctx context.Context, w io.Writer, start func(store.Snapshot) error) (store.Snapshot, error)
}

var _ Backuper = (*store.Store)(nil)

// Headers of a backup's answer: the snapshot's description, before its bytes.
const (
	HeaderSnapshotAt      = "X-Mtguard-Snapshot-At"
	HeaderSnapshotCalls   = "X-Mtguard-Snapshot-Calls"
	HeaderSnapshotPending = "X-Mtguard-Snapshot-Pending"
)

// backupWriteIdle is how long one write of a backup may make no progress. The admin server's
// write timeout bounds a whole answer, which a large store's backup may outlast.
const backupWriteIdle = time.Minute

// backup answers POST /api/backup: the store file as one read transaction sees it, streamed.
// It is a POST (and so audited): it copies every stored call.
func (s *server) backup(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	sent := false
	snap, err := s.backuper.Backup(r.Context(), &deadlineWriter{w: w, rc: rc}, func(sn store.Snapshot) error {
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.FormatInt(sn.Bytes, 10))
		h.Set("Content-Disposition", `attachment; filename="mtguard-`+sn.At.UTC().Format("20060102T150405Z")+`.db"`)
		h.Set(HeaderSnapshotAt, sn.At.UTC().Format(time.RFC3339Nano))
		h.Set(HeaderSnapshotCalls, strconv.Itoa(sn.Calls))
		h.Set(HeaderSnapshotPending, strconv.Itoa(sn.Pending))
		w.WriteHeader(http.StatusOK)
		sent = true
		return nil
	})
	if err == nil {
		noteAudit(r).result = fmt.Sprintf("snapshot of %d calls at %s", snap.Calls, snap.At.UTC().Format(time.RFC3339))
		return
	}
	if !sent {
		s.fail(w, r, err)
		return
	}
	// The status line is gone: cut the connection, so the client sees a short body rather
	// than a whole-looking one.
	s.log.Error().Err(err).Str("remote", r.RemoteAddr).Msg("admin API: backup stopped before its end")
	panic(http.ErrAbortHandler)
}

// deadlineWriter gives each write of a long answer its own deadline.
type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(backupWriteIdle))
	return d.w.Write(p)
}

// Backup streams a backup of the transaction log to w and returns its snapshot. A body that
// ends before the announced length is an error: the copy is not whole.
func (c *Client) Backup(ctx context.Context, w io.Writer) (store.Snapshot, error) {
	resp, err := c.send(ctx, http.MethodPost, "/api/backup", nil, "application/octet-stream")
	if err != nil {
		return store.Snapshot{}, err
	}
	defer resp.Body.Close()
	var sn store.Snapshot
	sn.At, _ = time.Parse(time.RFC3339Nano, resp.Header.Get(HeaderSnapshotAt))
	sn.Calls, _ = strconv.Atoi(resp.Header.Get(HeaderSnapshotCalls))
	sn.Pending, _ = strconv.Atoi(resp.Header.Get(HeaderSnapshotPending))
	n, err := io.Copy(w, resp.Body)
	sn.Bytes = n
	if err != nil {
		return sn, fmt.Errorf("admin API: backup cut off after %d bytes: %w", n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return sn, fmt.Errorf("admin API: backup cut off after %d of %d bytes", n, resp.ContentLength)
	}
	return sn, nil
}

// send sends one admin API request with an optional body and returns a 2xx answer for the
// caller to read (and close); any other answer is an *APIError.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader, accept string) (*http.Response, error) {
	resp, err := c.request(ctx, method, path, body, accept)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, readProblem(resp)
	}
	return resp, nil
}

// request sends one admin API request and returns whatever it answers.
func (c *Client) request(ctx context.Context, method, path string, body io.Reader, accept string) (*http.Response, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base + path)
	if err != nil {
		return nil, fmt.Errorf("admin API address %q: %w", c.BaseURL, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("admin API request: %w", err)
	}
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr) {
			return nil, &unreachableError{base: base, err: err}
		}
		return nil, fmt.Errorf("admin API: %w", err)
	}
	return resp, nil
}
