package cli

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

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/store"
)

// Backup is "mtguard backup --out FILE": a consistent copy of a running mtguard's transaction
// log, streamed through the admin API into FILE.tmp, verified, then renamed to FILE.
func Backup(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("backup", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	out := fs.String("out", "", "the `file` to write the backup to")
	force := fs.Bool("force", false, "replace --out if it exists")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if *out == "" || len(pos) > 0 {
		return fmt.Errorf("backup needs --out FILE (e.g. mtguard backup --out /backups/mtguard-$(date +%%F).db): %w", ErrUsage)
	}
	if fi, err := os.Stat(*out); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("backup: --out %s is a folder; name a file in it, e.g. %s", *out, filepath.Join(*out, "mtguard-backup.db"))
		}
		if !*force {
			return fmt.Errorf("backup: %s already exists; choose another name or pass --force to replace it", *out)
		}
	}
	// The target is opened before the server is asked, so a target that cannot be written
	// costs the server nothing.
	tmp := *out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("backup: cannot write %s (%v); choose a folder you can write to; the running store is untouched", tmp, unwrapPath(err))
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("backup: %w; nothing was written to %s and the running store is untouched", err, *out)
	}
	snap, err := adminClient(*admin, getenv).Backup(ctx, f)
	if err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("write %s: %v", tmp, unwrapPath(err)))
	}
	if err := f.Close(); err != nil {
		return fail(fmt.Errorf("write %s: %v", tmp, unwrapPath(err)))
	}
	rep, err := store.Verify(tmp)
	if err == nil && !rep.OK() {
		err = errors.New(strings.Join(rep.Problems, "; "))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: the copy received does not verify (%v); nothing was written to %s", err, *out)
	}
	if err := os.Rename(tmp, *out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backed up %d calls (%d in flight, restored as interrupted) as of %s to %s (%d bytes, format version %s)\n",
		snap.Calls, snap.Pending, snap.At.UTC().Format(time.RFC3339), *out, snap.Bytes, rep.FormatVersion)
	return nil
}

// Restore is "mtguard restore --from FILE --store PATH": offline, it verifies the backup and
// copies it to the store path, refusing a store in use, and an existing one unless --force.
func Restore(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("restore", stderr)
	from := fs.String("from", "", "the backup `file` (from mtguard backup)")
	to := fs.String("store", "", "the store `path` to restore to (store.path of the config serve will run with)")
	force := fs.Bool("force", false, "replace an existing store (never one in use)")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if *from == "" || *to == "" || len(pos) > 0 {
		return fmt.Errorf("restore needs --from FILE and --store PATH (e.g. mtguard restore --from backup.db --store /var/lib/mtguard/mtguard.db): %w", ErrUsage)
	}
	rep, err := store.Restore(*from, *to, store.RestoreOptions{Force: *force})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %d calls from %s to %s", rep.Calls, *from, *to)
	if rep.Pending > 0 {
		fmt.Fprintf(stdout, "; %d calls were in flight at the backup and will be marked interrupted when serve opens the store", rep.Pending)
	}
	fmt.Fprintln(stdout)
	return nil
}

// Store is "mtguard store verify PATH".
func Store(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("store verify: mtguard store verify PATH: %w", ErrUsage)
	}
	fs := NewFlagSet("store verify", stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := ParseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("store verify needs one PATH (a store file or a backup): %w", ErrUsage)
	}
	rep, err := store.Verify(pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		if err := logcmd.WriteJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		writeVerify(stdout, rep)
	}
	if !rep.OK() {
		return ErrFailures
	}
	return nil
}

func writeVerify(w io.Writer, rep store.VerifyReport) {
	fmt.Fprintf(w, "%s: %d bytes\n", rep.Path, rep.Bytes)
	if rep.FormatVersion != "" {
		supported := "read by this mtguard"
		if !rep.Supported {
			supported = "NOT read by this mtguard"
		}
		fmt.Fprintf(w, "format version: %s (%s)\n", rep.FormatVersion, supported)
	}
	fmt.Fprintf(w, "calls: %d", rep.Calls)
	if rep.First != nil && rep.Last != nil {
		fmt.Fprintf(w, ", from %s to %s", rep.First.UTC().Format(time.RFC3339), rep.Last.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	if rep.Pending > 0 {
		fmt.Fprintf(w, "in flight: %d (marked interrupted when the store is next opened)\n", rep.Pending)
	}
	if len(rep.Journal) > 0 {
		fmt.Fprintf(w, "journal: %s (writes not yet in the file: the store was not closed cleanly; serve applies them when it opens it)\n", strings.Join(rep.Journal, ", "))
	}
	if rep.OK() {
		fmt.Fprintln(w, "OK: every page is consistent")
		return
	}
	fmt.Fprintf(w, "DAMAGED: %d problems\n", len(rep.Problems))
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
	fmt.Fprintln(w, "Restore the latest good backup (mtguard restore --from FILE --store PATH --force) with serve stopped.")
}

// unwrapPath drops the operation and path an *fs.PathError repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
