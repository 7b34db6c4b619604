package inspect

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
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
