package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Snapshot describes a backup as it starts: when it was taken, how many bytes it will have
// and how many calls it holds.
type Snapshot struct {
	// At is when the snapshot was taken: every call recorded (intent or outcome) before it is
	// in the backup, as it was at that moment.
	At    time.Time `json:"at"`
	Bytes int64     `json:"bytes"`
	Calls int       `json:"calls"`
	// Pending counts the calls in flight at the snapshot (request recorded, outcome not yet):
	// a store restored from the backup marks them interrupted, as after a crash.
	Pending int `json:"pending"`
}

// Backup writes a consistent copy of the store file to w while calls go on being recorded.
// It first waits until every write queued before it (including what only the journal held)
// is applied to the file, then streams one bbolt read transaction's view of it page by page,
// so memory stays constant whatever the store's size. start, if set, is called with the
// snapshot's description before the first byte is written (to send headers); an error it
// returns ends the backup. The running store is never written to.
func (s *Store) Backup(ctx context.Context, w io.Writer, start func(Snapshot) error) (Snapshot, error) {
	if err := s.barrier(ctx, false); err != nil {
		return Snapshot{}, fmt.Errorf("backup: wait for queued writes: %w", err)
	}
	var snap Snapshot
	err := s.view(func(btx *bolt.Tx) error {
		snap = Snapshot{At: s.now(), Bytes: btx.Size(), Calls: btx.Bucket(bucketReq).Stats().KeyN, Pending: btx.Bucket(bucketPending).Stats().KeyN}
		if start != nil {
			if err := start(snap); err != nil {
				return err
			}
		}
		n, err := btx.WriteTo(&ctxWriter{ctx: ctx, w: w})
		if err == nil && n != snap.Bytes {
			err = fmt.Errorf("wrote %d of %d bytes", n, snap.Bytes)
		}
		return err
	})
	if err != nil {
		return snap, fmt.Errorf("backup: %w", err)
	}
	return snap, nil
}

// ctxWriter stops a backup whose reader went away.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// VerifyReport is what Verify found in a store file.
type VerifyReport struct {
	Path          string `json:"path"`
	Bytes         int64  `json:"bytes"`
	FormatVersion string `json:"format_version"`
	// Supported says this mtguard reads the file's format version.
	Supported bool `json:"supported"`
	Calls     int  `json:"calls"`
	// Pending counts calls without an outcome: opening the store marks them interrupted.
	Pending int `json:"pending"`
	// First and Last are the times of the oldest and newest call; nil without calls.
	First *time.Time `json:"first,omitempty"`
	Last  *time.Time `json:"last,omitempty"`
	// Journal lists the journal segments beside the file: writes of a store that was not
	// closed cleanly, which its next open applies.
	Journal []string `json:"journal,omitempty"`
	// Problems is every inconsistency found; empty means the file is sound.
	Problems []string `json:"problems"`
}

// OK reports whether the file is sound and readable by this mtguard.
func (r VerifyReport) OK() bool { return len(r.Problems) == 0 }

// maxProblems bounds how many inconsistencies Verify lists.
const maxProblems = 100

// ErrInUse means a store file is open in another process (mtguard serve).
var ErrInUse = errors.New("store in use")

// Verify checks the store file at path without changing it: that bbolt can open it, that
// every page is reachable once and every key is in order (bbolt's consistency check), that its
// format version is one this mtguard reads and that it holds every bucket. A file open in a
// running mtguard cannot be checked (bbolt locks it): back it up and check the backup.
func Verify(path string) (VerifyReport, error) {
	rep := VerifyReport{Path: path, Problems: []string{}}
	fi, err := os.Stat(path)
	if err != nil {
		return rep, fmt.Errorf("verify %s: %w", path, err)
	}
	if fi.IsDir() {
		return rep, fmt.Errorf("verify %s: a folder, not a store file", path)
	}
	rep.Bytes = fi.Size()
	if segs, err := segments(path); err == nil {
		for _, n := range segs {
			rep.Journal = append(rep.Journal, filepath.Base(segmentPath(path, n)))
		}
	}
	if inUse(path) {
		return rep, fmt.Errorf("verify %s: the file is open in a running mtguard (%w); take a backup with mtguard backup and verify that", path, ErrInUse)
	}
	f, err := os.Open(path)
	if err != nil {
		return rep, fmt.Errorf("verify %s: %w", path, err)
	}
	rep.Problems = walkPages(f, rep.Bytes, maxProblems)
	f.Close()
	if len(rep.Problems) > 0 {
		return rep, nil // bbolt must not map a file whose pages are damaged
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return rep, fmt.Errorf("verify %s: the file is open in a running mtguard (%w); take a backup with mtguard backup and verify that", path, ErrInUse)
	case err != nil:
		rep.Problems = append(rep.Problems, fmt.Sprintf("bbolt cannot open the file: %v", err))
		return rep, nil
	}
	defer db.Close()
	err = db.View(func(btx *bolt.Tx) error {
		for err := range btx.Check() {
			if len(rep.Problems) < maxProblems {
				rep.Problems = append(rep.Problems, err.Error())
			}
		}
		meta := btx.Bucket(bucketMeta)
		if meta == nil {
			rep.Problems = append(rep.Problems, "no meta bucket: not an mtguard store")
			return nil
		}
		rep.FormatVersion = string(meta.Get(keyFormat))
		rep.Supported = rep.FormatVersion == formatVersion
		if !rep.Supported {
			rep.Problems = append(rep.Problems, fmt.Sprintf("format version %q: this mtguard reads version %s", rep.FormatVersion, formatVersion))
		}
		var missing []string
		for _, name := range allBuckets {
			if btx.Bucket(name) == nil {
				missing = append(missing, string(name))
			}
		}
		if len(missing) > 0 {
			// A store written by an older mtguard of the same format lacks the buckets added
			// since; Open creates them. Not a problem, but worth a word.
			rep.Problems = append(rep.Problems, fmt.Sprintf("buckets missing: %s", strings.Join(missing, ", ")))
		}
		req, pending := btx.Bucket(bucketReq), btx.Bucket(bucketPending)
		if req == nil {
			return nil
		}
		rep.Calls = req.Stats().KeyN
		if pending != nil {
			rep.Pending = pending.Stats().KeyN
		}
		c := req.Cursor()
		if k, _ := c.First(); k != nil {
			rep.First = idTimePtr(k)
		}
		if k, _ := c.Last(); k != nil {
			rep.Last = idTimePtr(k)
		}
		return nil
	})
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	}
	return rep, nil
}

// idTimePtr is the time an id was issued at, or nil if k is not an id.
func idTimePtr(k []byte) *time.Time {
	t, ok := idTime(string(k))
	if !ok {
		return nil
	}
	return &t
}

// RestoreOptions tunes Restore.
type RestoreOptions struct {
	// Force replaces an existing store file (never one in use).
	Force bool
}

// Restore copies the backup at from to a store file at to, offline: it verifies the backup
// first, refuses a destination that a running mtguard has open, and one that exists unless
// Force; the copy is written beside the destination, synced and renamed over it, so an
// interrupted restore leaves the destination as it was. Journal segments of a replaced store
// are removed: they belong to the old file and must not be applied to the restored one.
func Restore(from, to string, opts RestoreOptions) (VerifyReport, error) {
	rep, err := Verify(from)
	if err != nil {
		return rep, fmt.Errorf("restore: %w", err)
	}
	if !rep.OK() {
		return rep, fmt.Errorf("restore: the backup %s is not sound (%s); nothing was changed", from, strings.Join(rep.Problems, "; "))
	}
	if len(rep.Journal) > 0 {
		return rep, fmt.Errorf("restore: %s has journal segments beside it (%s): it is a store that was not closed cleanly, not a backup; open it with mtguard serve once, or take a backup with mtguard backup", from, strings.Join(rep.Journal, ", "))
	}
	if fi, err := os.Stat(to); err == nil {
		if fi.IsDir() {
			return rep, fmt.Errorf("restore: %s is a folder; name the store file, e.g. %s", to, filepath.Join(to, "mtguard.db"))
		}
		if inUse(to) {
			return rep, fmt.Errorf("restore: %s is open in a running mtguard (%w); stop it first (restore is offline)", to, ErrInUse)
		}
		if !opts.Force {
			return rep, fmt.Errorf("restore: %s already exists; restore into a new path, or pass --force to replace it (its calls are lost)", to)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return rep, fmt.Errorf("restore: %w", err)
	}
	tmp := to + ".restore"
	if err := copyFile(from, tmp); err != nil {
		os.Remove(tmp)
		return rep, fmt.Errorf("restore: %w", err)
	}
	if segs, err := segments(to); err == nil && len(segs) > 0 {
		if err := removeSegments(to, segs); err != nil {
			os.Remove(tmp)
			return rep, fmt.Errorf("restore: remove the journal of the replaced store: %w", err)
		}
	}
	if err := removeFree(to); err != nil {
		os.Remove(tmp)
		return rep, fmt.Errorf("restore: remove the journal of the replaced store: %w", err)
	}
	if err := os.Rename(tmp, to); err != nil {
		os.Remove(tmp)
		return rep, fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(filepath.Dir(to)); err != nil {
		return rep, fmt.Errorf("restore: %w", err)
	}
	return rep, nil
}

// inUse reports whether another process holds the store file at path open.
func inUse(path string) bool {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	if err != nil {
		return errors.Is(err, bolterrors.ErrTimeout)
	}
	db.Close()
	return false
}

// copyFile copies from to a new file to, synced to disk.
func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
