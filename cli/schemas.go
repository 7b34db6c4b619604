package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/mtguard/mtguard/schemas"
)

// schemasUsage is the help of mtguard schemas.
const schemasUsage = `Usage:
  mtguard schemas import --spec FILE --operation "POST /path" [--operation ...] --out DIR
  mtguard schemas import --spec FILE --all [--strict] --out DIR
  mtguard schemas import --spec FILE --list
  mtguard schemas verify [--dir DIR]
  mtguard schemas pin --source URL [--note TEXT] FILE...
  mtguard schemas list
  mtguard schemas learn --route R --out DIR

import turns a vendor's OpenAPI 3.x or Swagger 2.0 file into pinned JSON Schemas (2020-12) and
records them in DIR/schemas.lock; verify fails when a pinned file no longer matches its lock;
pin records hand-written (or deliberately edited) contracts in their folder's lock; list shows
the contracts shipped with mtguard (builtin:<vendor>/<file>); learn writes the payload shape a
route with a drift: block learned as a JSON Schema (ask a running mtguard, like log), to pin.

With --all, an operation that cannot be imported (a $ref that resolves to nothing) is named
and skipped, the others are imported and locked; --strict then exits 1.
`

func Schemas(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, schemasUsage)
		return fmt.Errorf("schemas needs a subcommand (import, verify, pin or list): %w", ErrUsage)
	}
	switch args[0] {
	case "import":
		return SchemasImport(args[1:], stdout, stderr)
	case "verify":
		return SchemasVerify(args[1:], stdout, stderr)
	case "pin":
		return SchemasPin(args[1:], stdout, stderr)
	case "list":
		return SchemasList(args[1:], stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, schemasUsage)
		return nil
	}
	fmt.Fprint(stderr, schemasUsage)
	return fmt.Errorf("unknown schemas subcommand %q: %w", args[0], ErrUsage)
}

// stringsFlag collects a repeated flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ", ") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

func SchemasImport(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("schemas import", stderr)
	specPath := fs.String("spec", "", "the vendor's OpenAPI 3.x or Swagger 2.0 `file` (JSON or YAML)")
	var ops stringsFlag
	fs.Var(&ops, "operation", "the `\"METHOD /path\"` to import, as the spec writes it; repeat for several")
	all := fs.Bool("all", false, "import every operation")
	out := fs.String("out", "", "the `folder` to write the schemas and schemas.lock to")
	list := fs.Bool("list", false, "list the spec's operations instead of importing")
	strict := fs.Bool("strict", false, "with --all, fail (exit 1) when any operation could not be imported; the others are still imported and locked")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("schemas import takes no arguments (got %q); name operations with --operation: %w", strings.Join(pos, " "), ErrUsage)
	}
	if *specPath == "" {
		return fmt.Errorf("schemas import needs --spec FILE: %w", ErrUsage)
	}
	data, err := os.ReadFile(*specPath)
	if err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	spec, err := schemas.ParseSpec(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *specPath, err)
	}
	if *list {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, op := range spec.Operations() {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", op.Method, op.Path, op.Summary)
		}
		return tw.Flush()
	}
	switch {
	case *out == "":
		return fmt.Errorf("schemas import needs --out DIR: %w", ErrUsage)
	case *all && len(ops) > 0:
		return fmt.Errorf("give --operation or --all, not both: %w", ErrUsage)
	case !*all && len(ops) == 0:
		return fmt.Errorf("schemas import needs --operation \"METHOD /path\" or --all (--list shows the operations): %w", ErrUsage)
	}
	var chosen []schemas.Operation
	if *all {
		chosen = spec.Operations()
	}
	for _, o := range ops {
		op, err := spec.FindOperation(o)
		if err != nil {
			return fmt.Errorf("%s: %w", *specPath, err)
		}
		chosen = append(chosen, op)
	}
	// Convert everything before writing anything, so that a failure never leaves schemas on
	// disk that no lock records. An operation named with --operation must import; with --all,
	// one that cannot (an unresolvable $ref) is skipped and named, and the rest are imported.
	var imported []*schemas.Imported
	var skipped []string
	for _, op := range chosen {
		im, err := spec.ImportOperation(op)
		if err != nil {
			if !*all {
				return fmt.Errorf("%s: %w (nothing was written)", *specPath, err)
			}
			reason := strings.TrimPrefix(err.Error(), op.String()+" ")
			skipped = append(skipped, fmt.Sprintf("skipped %s: %s", op, reason))
			continue
		}
		imported = append(imported, im)
	}
	for _, s := range skipped {
		fmt.Fprintln(stderr, s)
	}

	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	lockPath := filepath.Join(*out, schemas.LockFile)
	lock, err := readLock(lockPath)
	if err != nil {
		return err
	}
	source := filepath.ToSlash(*specPath)
	sourceSum := schemas.SHA256(data)
	var snippets []string
	written := 0
	for _, im := range imported {
		op := im.Operation
		for _, n := range im.Notes {
			fmt.Fprintf(stderr, "%s: %s\n", op, n)
		}
		if len(im.Schemas) == 0 {
			if !*all {
				fmt.Fprintf(stderr, "%s: no JSON request or success response body to pin\n", op)
			}
			continue
		}
		snippet := []string{"  - match: " + op.String()}
		for _, is := range im.Schemas {
			name := is.FileName(op)
			body := schemas.MarshalSchema(is.Describe(op, spec, source))
			if err := os.WriteFile(filepath.Join(*out, name), body, 0o644); err != nil {
				return err
			}
			written++
			part := is.Part
			if is.Status != "" {
				part += " " + is.Status
			}
			lock.Schemas[name] = schemas.LockEntry{
				SHA256: schemas.SHA256(body), Source: source, SourceSHA256: sourceSum,
				Spec: spec.Title, SpecVersion: spec.Version, SpecFormat: spec.Format,
				Operation: op.String(), OperationID: op.ID, Part: part, MediaType: is.MediaType,
			}
			fmt.Fprintf(stdout, "wrote %s (%s)\n", filepath.Join(*out, name), part)
			p := filepath.ToSlash(filepath.Join(*out, name))
			switch {
			case is.Part == "request":
				snippet = append(snippet, "    request: "+p)
			case is.Status == "2XX":
				snippet = append(snippet, "    response: "+p)
			default:
				if !strings.Contains(strings.Join(snippet, "\n"), "    response:\n") {
					snippet = append(snippet, "    response:")
				}
				snippet = append(snippet, fmt.Sprintf("      %q: %s", is.Status, p))
			}
		}
		snippets = append(snippets, strings.Join(snippet, "\n"))
	}
	if err := os.WriteFile(lockPath, lock.Marshal(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pinned %d schemas in %s\n", written, lockPath)
	if len(skipped) > 0 {
		fmt.Fprintf(stdout, "skipped %d of %d operations that could not be imported (each is named above with the reason); fix or bundle the spec and import them again\n", len(skipped), len(chosen))
	}
	if len(snippets) > 0 && len(snippets) <= 10 {
		fmt.Fprintf(stdout, "\nadd to the route's contracts: (in a config, schema paths are relative to its folder)\n    pins:\n%s\n", indentBy(strings.Join(snippets, "\n"), "    "))
	}
	if *strict && len(skipped) > 0 {
		return fmt.Errorf("%d of %d operations could not be imported (--strict); the others are pinned in %s", len(skipped), len(chosen), lockPath)
	}
	return nil
}

func indentBy(s, by string) string {
	return by + strings.ReplaceAll(s, "\n", "\n"+by)
}

// readLock reads the lock at path, or returns an empty one if there is none.
func readLock(path string) (*schemas.Lock, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return schemas.NewLock(), nil
	}
	if err != nil {
		return nil, err
	}
	lock, err := schemas.ParseLock(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return lock, nil
}

func SchemasVerify(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("schemas verify", stderr)
	dir := fs.String("dir", "schemas", "the `folder` to check; every schemas.lock under it is verified")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("schemas verify takes no arguments (got %q); use --dir: %w", strings.Join(pos, " "), ErrUsage)
	}
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		return fmt.Errorf("--dir %s: not a folder", *dir)
	}
	ok, problems, err := schemas.VerifyLocks(os.DirFS(*dir))
	if err != nil {
		return fmt.Errorf("%s: %w", *dir, err)
	}
	for _, p := range problems {
		fmt.Fprintf(stdout, "%s: %s\n", filepath.Join(*dir, filepath.FromSlash(p.File)), p.Msg)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d of %d pinned contracts under %s do not match their lock", len(problems), ok+len(problems), *dir)
	}
	fmt.Fprintf(stdout, "%s: %d pinned contracts match their lock\n", *dir, ok)
	return nil
}

func SchemasPin(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("schemas pin", stderr)
	source := fs.String("source", "", "where the contract comes from (the vendor doc `URL`); required for a file not pinned yet")
	note := fs.String("note", "", "how the contract differs from its source, if it was edited on purpose")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("schemas pin takes the schema files to pin: %w", ErrUsage)
	}
	for _, file := range pos {
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		// A contract that does not compile must not be pinned.
		if _, err := schemas.CompileContracts(schemas.ContractsSpec{Pins: []schemas.PinSpec{{Match: "* /", Request: file}}},
			schemas.ContractOptions{ReadFile: os.ReadFile}); err != nil {
			return fmt.Errorf("%s: %w", file, unwrapPinError(err))
		}
		lockPath := filepath.Join(filepath.Dir(file), schemas.LockFile)
		lock, err := readLock(lockPath)
		if err != nil {
			return err
		}
		name := filepath.Base(file)
		e, had := lock.Schemas[name]
		if !had && *source == "" {
			return fmt.Errorf("%s is not pinned yet: say where it comes from with --source URL: %w", file, ErrUsage)
		}
		if *source != "" {
			e.Source = *source
		}
		if *note != "" {
			e.Note = *note
		}
		old := e.SHA256
		e.SHA256 = schemas.SHA256(data)
		lock.Schemas[name] = e
		if err := os.WriteFile(lockPath, lock.Marshal(), 0o644); err != nil {
			return err
		}
		switch {
		case !had:
			fmt.Fprintf(stdout, "pinned %s in %s\n", file, lockPath)
		case old == e.SHA256:
			fmt.Fprintf(stdout, "%s: unchanged\n", file)
		default:
			fmt.Fprintf(stdout, "re-pinned %s in %s\n", file, lockPath)
		}
	}
	return nil
}

// unwrapPinError drops the "pins[0]: request:" prefix of a compile error about one file.
func unwrapPinError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "pins[0]: ")
	return errors.New(strings.TrimPrefix(msg, "request: "))
}

func SchemasList(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("schemas list", stderr)
	if _, err := ParseFlags(fs, args); err != nil {
		return err
	}
	pins, err := schemas.BuiltinPins()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VENDOR\tMATCH\tREQUEST\tRESPONSE")
	for _, p := range pins {
		req := "-"
		if p.Request != "" {
			req = schemas.BuiltinPrefix + p.Vendor + "/" + p.Request
		}
		var resp []string
		keys := make([]string, 0, len(p.Responses))
		for k := range p.Responses {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			resp = append(resp, k+"="+schemas.BuiltinPrefix+p.Vendor+"/"+p.Responses[k])
		}
		if len(resp) == 0 {
			resp = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Vendor, p.Match, req, strings.Join(resp, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nPin a whole vendor with `contracts: {builtin: [hubspot]}`, or one file with `request: builtin:<vendor>/<file>`.")
	return nil
}

var _ flag.Value = (*stringsFlag)(nil)
