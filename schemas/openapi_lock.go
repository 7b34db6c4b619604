package schemas

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// LockFile is the name of the lock file in a folder of pinned contracts.
const LockFile = "schemas.lock"

// Lock records, for each pinned schema file of a folder, its sha256 and where it came from,
// so that `mtguard schemas verify` can tell when a contract was edited without re-pinning.
type Lock struct {
	// Version is the lock format; 1.
	Version int `json:"version"`
	// Schemas maps a file name in the folder to its entry.
	Schemas map[string]LockEntry `json:"schemas"`
}

// LockEntry is one pinned schema file.
type LockEntry struct {
	// SHA256 is the hex sha256 of the file's bytes.
	SHA256 string `json:"sha256"`
	// Source is the spec file the schema was imported from, or the vendor doc a hand-written
	// contract follows.
	Source       string `json:"source"`
	SourceSHA256 string `json:"source_sha256,omitempty"`
	// Spec, SpecVersion and SpecFormat are the spec's info.title, info.version and
	// "OpenAPI 3.0.1" or "Swagger 2.0".
	Spec        string `json:"spec,omitempty"`
	SpecVersion string `json:"spec_version,omitempty"`
	SpecFormat  string `json:"spec_format,omitempty"`
	// Operation is "POST /crm/v3/objects/contacts"; OperationID the spec's operationId.
	Operation   string `json:"operation,omitempty"`
	OperationID string `json:"operation_id,omitempty"`
	// Part is "request" or "response 201" ("response 2XX" for every success).
	Part      string `json:"part,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	// Note says how a contract differs from its source, when it was edited on purpose.
	Note string `json:"note,omitempty"`
}

// LockVersion is the Lock.Version this mtguard writes and reads.
const LockVersion = 1

// ParseLock reads a lock file.
func ParseLock(data []byte) (*Lock, error) {
	var l Lock
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&l); err != nil {
		return nil, fmt.Errorf("not a valid %s: %v", LockFile, err)
	}
	if l.Version != LockVersion {
		return nil, fmt.Errorf("%s version %d is not one this mtguard reads (%d)", LockFile, l.Version, LockVersion)
	}
	if l.Schemas == nil {
		l.Schemas = map[string]LockEntry{}
	}
	return &l, nil
}

// NewLock returns an empty lock.
func NewLock() *Lock { return &Lock{Version: LockVersion, Schemas: map[string]LockEntry{}} }

// Marshal encodes the lock with sorted keys, one field per line, so diffs stay readable.
func (l *Lock) Marshal() []byte {
	return marshalIndent(l)
}

// SHA256 returns the hex sha256 of data, as a lock records it.
func SHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// MarshalSchema encodes a schema document as pinned files are written: two-space indent,
// sorted keys, no HTML escaping, a final newline.
func MarshalSchema(schema map[string]any) []byte { return marshalIndent(schema) }

func marshalIndent(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		panic(err) // Only maps, slices, strings, numbers and booleans reach here.
	}
	return b.Bytes()
}

// Describe adds a title and a $comment naming the source to an imported schema, so a person
// reading the file knows what it is without the lock.
func (is ImportedSchema) Describe(op Operation, spec *Spec, source string) map[string]any {
	part := is.Part
	if is.Status != "" {
		part += " " + is.Status
	}
	title := op.String() + " " + part
	if op.Summary != "" {
		title = op.Summary + " (" + title + ")"
	}
	out := make(map[string]any, len(is.Schema)+2)
	for k, v := range is.Schema {
		out[k] = v
	}
	if _, ok := out["title"]; !ok {
		out["title"] = title
	}
	out["$comment"] = fmt.Sprintf("Imported by mtguard schemas import from %s (%s %s, %s), %s %s; re-import rather than edit, or re-pin after editing (see %s).",
		path.Base(strings.ReplaceAll(source, "\\", "/")), spec.Title, spec.Version, spec.Format, op, part, LockFile)
	return out
}

// LockProblem is one way a folder of pinned contracts differs from its lock.
type LockProblem struct {
	File string // the file, relative to the verified folder
	Msg  string
}

func (p LockProblem) String() string { return p.File + ": " + p.Msg }

// VerifyLocks checks every schemas.lock under fsys: each locked file exists, has the recorded
// sha256 and compiles as a JSON Schema; every .json file beside a lock is in it. It returns how
// many files matched their lock.
func VerifyLocks(fsys fs.FS) (ok int, problems []LockProblem, err error) {
	var locks []string
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return fs.SkipDir
		}
		if !d.IsDir() && d.Name() == LockFile {
			locks = append(locks, p)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	if len(locks) == 0 {
		return 0, nil, errors.New("no " + LockFile + " found; pin contracts with mtguard schemas import (or schemas pin for hand-written ones)")
	}
	comp := newContractCompiler(ContractOptions{ReadFile: func(name string) ([]byte, error) { return fs.ReadFile(fsys, name) }})
	for _, lp := range locks {
		dir := path.Dir(lp)
		data, err := fs.ReadFile(fsys, lp)
		if err != nil {
			return ok, problems, err
		}
		lock, err := ParseLock(data)
		if err != nil {
			problems = append(problems, LockProblem{File: lp, Msg: err.Error()})
			continue
		}
		for _, name := range sortedKeys(lock.Schemas) {
			e := lock.Schemas[name]
			file := path.Join(dir, name)
			got, err := fs.ReadFile(fsys, file)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				problems = append(problems, LockProblem{File: file, Msg: "is in " + LockFile + " but missing; restore it or remove its entry by re-pinning"})
				continue
			case err != nil:
				return ok, problems, err
			}
			if sum := SHA256(got); sum != e.SHA256 {
				problems = append(problems, LockProblem{File: file, Msg: fmt.Sprintf("was edited since it was pinned (sha256 %s, %s records %s); re-import it, or re-pin it on purpose with mtguard schemas pin", short(sum), LockFile, short(e.SHA256))})
				continue
			}
			if _, err := comp.schema(file); err != nil {
				problems = append(problems, LockProblem{File: file, Msg: err.Error()})
				continue
			}
			ok++
		}
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			return ok, problems, err
		}
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
				if _, locked := lock.Schemas[e.Name()]; !locked {
					problems = append(problems, LockProblem{File: path.Join(dir, e.Name()), Msg: "is not in " + LockFile + "; pin it with mtguard schemas pin (or remove it)"})
				}
			}
		}
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].File < problems[j].File })
	return ok, problems, nil
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}
