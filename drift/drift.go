package drift

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/observe"
	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
)

// Bounds of what one route's shape holds.
const (
	// MaxFields caps the field paths learned per route; later ones are not learned (Capped).
	MaxFields = 500
	// MaxChanges caps the changes kept per route; later ones are counted in Overflow.
	MaxChanges = 100
	// maxDepth bounds how deep a payload is walked.
	maxDepth = 12
	// DefaultBuffer is how many calls may wait for the learner before it drops (and counts) them.
	DefaultBuffer = 8192
)

// The kinds of change.
const (
	Appeared    = "appeared"
	Vanished    = "vanished"
	TypeChanged = "type_changed"
	Renamed     = "renamed"
)

// Field is one field path of a learned shape.
type Field struct {
	// Types counts, per JSON type (string, number, boolean, object, array, null), the
	// learning calls that carried the field with that type.
	Types map[string]int64 `json:"types"`
	// Seen counts the learning calls that carried the field.
	Seen int64 `json:"seen"`
}

// Change is one difference from the learned shape, flagged once and counted after.
type Change struct {
	Kind    string `json:"kind"`
	Pointer string `json:"pointer"`
	// To is the new pointer of a renamed field.
	To        string    `json:"to,omitempty"`
	Before    string    `json:"before"`
	After     string    `json:"after"`
	FirstSeen time.Time `json:"first_seen"`
	// Call is the first call that showed it (it carries the finding).
	Call  string `json:"call"`
	Calls int64  `json:"calls"`
}

// Shape is a route's learned payload shape and the changes seen since.
type Shape struct {
	Route string `json:"route"`
	// Since is the first call learned from; Until when learning ends.
	Since  time.Time         `json:"since"`
	Until  time.Time         `json:"until"`
	Calls  int64             `json:"calls"`
	Fields map[string]*Field `json:"fields"`
	// Capped says that more field paths than MaxFields were seen while learning.
	Capped   bool     `json:"capped,omitempty"`
	Changes  []Change `json:"changes"`
	Overflow int64    `json:"overflow,omitempty"`
	// Checked counts the calls compared with the shape after learning.
	Checked int64 `json:"checked"`
}

// Learning reports whether the shape is still being learned at now.
func (s *Shape) Learning(now time.Time) bool { return s.Since.IsZero() || now.Before(s.Until) }

// Store is what the learner keeps its shapes and findings in. *store.Store satisfies it.
type Store interface {
	Applied(ctx context.Context) error
	SaveShapes(put map[string][]byte) error
	LoadShapes(fn func(route string, v []byte) error) error
	AddFinding(id string, f txn.Finding) error
}

// Config configures the learner.
type Config struct {
	// Learn is each route's learning window; only these routes are learned.
	Learn  map[string]time.Duration
	Buffer int
	Logger zerolog.Logger
}

// Learner learns and checks the shapes of the configured routes. Its methods are safe for
// concurrent use.
type Learner struct {
	cfg Config
	st  Store
	log zerolog.Logger
	q   *observe.Queue

	mu     sync.Mutex
	shapes map[string]*Shape
	dirty  map[string]bool
}

// New returns a learner for cfg; Start loads the shapes and starts it.
func New(cfg Config) *Learner {
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	l := &Learner{cfg: cfg, log: cfg.Logger, shapes: map[string]*Shape{}, dirty: map[string]bool{}}
	l.q = observe.New(cfg.Buffer, observe.Handler{Take: l.take})
	return l
}

// Start loads the learned shapes from st and starts checking calls.
func (l *Learner) Start(st Store) error {
	if err := l.Load(st); err != nil {
		return err
	}
	l.q.Start()
	return nil
}

// Load reads the learned shapes from st without starting the learner: one that was only
// loaded answers Shape from what st holds (an instance that does not learn the shapes itself
// shows those of the one that does).
func (l *Learner) Load(st Store) error {
	l.st = st
	l.mu.Lock()
	defer l.mu.Unlock()
	err := st.LoadShapes(func(route string, v []byte) error {
		if _, ok := l.cfg.Learn[route]; !ok {
			return nil
		}
		var s Shape
		if err := json.Unmarshal(v, &s); err != nil {
			l.log.Error().Err(err).Str("route", route).Msg("drift: the stored shape cannot be read; learning again")
			return nil
		}
		if s.Fields == nil {
			s.Fields = map[string]*Field{}
		}
		l.shapes[route] = &s
		return nil
	})
	if err != nil {
		return fmt.Errorf("drift: load shapes: %w", err)
	}
	return nil
}

// Observe takes one committed call; it never blocks (a call the learner cannot keep up with
// is dropped and counted).
func (l *Learner) Observe(tx txn.Transaction) {
	if _, ok := l.cfg.Learn[tx.Route]; !ok || tx.Kind == txn.KindProbe {
		return
	}
	l.q.Offer(tx)
}

// Take learns from or checks committed calls at once, on the caller's goroutine, saves the
// shapes and adds the findings: for a feed that waits for the learner rather than drop calls.
func (l *Learner) Take(txs []txn.Transaction) {
	txs = slices.DeleteFunc(slices.Clone(txs), func(tx txn.Transaction) bool {
		_, ok := l.cfg.Learn[tx.Route]
		return !ok || tx.Kind == txn.KindProbe
	})
	l.take(txs)
}

// Dropped counts the calls the learner could not keep up with.
func (l *Learner) Dropped() int64 { return l.q.Dropped() }

// Settle brings the shapes up to date for a read: every call the store recorded before it is
// learned or checked.
func (l *Learner) Settle(ctx context.Context) error {
	if !l.q.Running() {
		return nil // nothing to wait for: Start never ran, or Close drained the queue
	}
	if err := l.st.Applied(ctx); err != nil {
		return fmt.Errorf("drift: %w", err)
	}
	l.Flush()
	return nil
}

// Flush waits until every call observed before it is handled and saved (after Start).
func (l *Learner) Flush() { l.q.Flush() }

// Close stops the learner after the calls already queued, and saves the shapes.
func (l *Learner) Close() { l.q.Close() }

// take handles a batch of calls, then saves and marks once.
func (l *Learner) take(txs []txn.Transaction) {
	var marks []mark
	for i := range txs {
		marks = append(marks, l.Check(&txs[i])...)
	}
	l.save()
	for _, m := range marks {
		if err := l.st.AddFinding(m.call, m.f); err != nil {
			l.log.Error().Err(err).Str("call", m.call).Msg("drift: could not add schema.drift to the call")
		}
	}
}

type mark struct {
	call string
	f    txn.Finding
}

// Check learns from tx, or compares it with the learned shape, and returns the findings to
// put on it (one per new change).
func (l *Learner) Check(tx *txn.Transaction) []mark {
	learn, ok := l.cfg.Learn[tx.Route]
	if !ok || tx.Request.BodyEncoding != "" || tx.Request.Truncated {
		return nil
	}
	b := schemas.ParseBody(tx.Request.ContentType, []byte(tx.Request.Body))
	var seen map[string]string
	switch {
	case b.JSON != nil:
		seen = map[string]string{}
		walk(b.JSON, "", 0, seen)
	case b.Form != nil:
		seen = map[string]string{}
		for k := range b.Form {
			if len(seen) < MaxFields {
				seen["/"+escape(dataKey(k))] = "string"
			}
		}
	default:
		return nil // no payload to learn from
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.shapes[tx.Route]
	if s == nil {
		s = &Shape{Route: tx.Route, Fields: map[string]*Field{}, Changes: []Change{}}
		l.shapes[tx.Route] = s
	}
	l.dirty[tx.Route] = true
	if s.Since.IsZero() {
		s.Since, s.Until = tx.Time, tx.Time.Add(learn)
	}
	if s.Learning(tx.Time) {
		s.learn(seen)
		return nil
	}
	s.Checked++
	var out []mark
	for _, c := range s.compare(seen) {
		if i := slices.IndexFunc(s.Changes, func(o Change) bool {
			return o.Kind == c.Kind && o.Pointer == c.Pointer && o.To == c.To && o.After == c.After
		}); i >= 0 {
			s.Changes[i].Calls++
			continue
		}
		if len(s.Changes) >= MaxChanges {
			s.Overflow++
			continue
		}
		c.FirstSeen, c.Call, c.Calls = tx.Time, tx.ID, 1
		s.Changes = append(s.Changes, c)
		out = append(out, mark{call: tx.ID, f: txn.NewFinding(txn.CodeSchemaDrift, c.message(s), c.Pointer)})
	}
	return out
}

// learn adds one call's fields to the shape.
func (s *Shape) learn(seen map[string]string) {
	s.Calls++
	for p, t := range seen {
		f := s.Fields[p]
		if f == nil {
			if len(s.Fields) >= MaxFields {
				s.Capped = true
				continue
			}
			f = &Field{Types: map[string]int64{}}
			s.Fields[p] = f
		}
		f.Seen++
		f.Types[t]++
	}
}

// compare lists how seen differs from the learned shape, in pointer order. A field vanishes
// only if every learning call carried it (and its parent is here); one seen at least once
// while learning is optional and never flagged. At one parent, one field vanishing and one of
// the same type appearing in the same call is a rename.
func (s *Shape) compare(seen map[string]string) []Change {
	var appeared, vanished, out []Change
	for p, t := range seen {
		f := s.Fields[p]
		switch {
		case f == nil:
			if !s.Capped && !under(p, seen, s) {
				appeared = append(appeared, Change{Kind: Appeared, Pointer: p, Before: "absent", After: t})
			}
		case f.Types[t] == 0:
			out = append(out, Change{Kind: TypeChanged, Pointer: p, Before: f.types(), After: t})
		}
	}
	for p, f := range s.Fields {
		if f.Seen < s.Calls {
			continue
		}
		if _, ok := seen[p]; ok {
			continue
		}
		if parent := parentOf(p); parent != "" {
			if t, ok := seen[parent]; !ok || s.Fields[parent] == nil || s.Fields[parent].Types[t] == 0 {
				continue // the parent is gone or changed type: that is the change
			}
		}
		vanished = append(vanished, Change{Kind: Vanished, Pointer: p, Before: f.types(), After: "absent"})
	}
	for _, v := range vanished {
		var same []int
		for i, a := range appeared {
			if a.Pointer != "" && parentOf(a.Pointer) == parentOf(v.Pointer) && strings.Contains(v.Before, a.After) {
				same = append(same, i)
			}
		}
		if len(same) == 1 && countAt(vanished, parentOf(v.Pointer)) == 1 {
			a := &appeared[same[0]]
			out = append(out, Change{Kind: Renamed, Pointer: v.Pointer, To: a.Pointer, Before: v.Before, After: a.After})
			a.Pointer = ""
			continue
		}
		out = append(out, v)
	}
	for _, a := range appeared {
		if a.Pointer != "" {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pointer+out[i].To < out[j].Pointer+out[j].To })
	return out
}

// under reports whether p sits below another field that appeared in this call, so a new
// object is one change, not one per field in it.
func under(p string, seen map[string]string, s *Shape) bool {
	for q := parentOf(p); q != ""; q = parentOf(q) {
		if _, ok := seen[q]; ok && s.Fields[q] == nil {
			return true
		}
	}
	return false
}

func countAt(cs []Change, parent string) int {
	n := 0
	for _, c := range cs {
		if parentOf(c.Pointer) == parent {
			n++
		}
	}
	return n
}

// parentOf is the pointer of p's parent; "" for a top-level field.
func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return ""
	}
	return p[:i]
}

// types lists the field's learned types, most frequent first.
func (f *Field) types() string {
	ts := slices.Collect(maps.Keys(f.Types))
	sort.Slice(ts, func(i, j int) bool {
		if f.Types[ts[i]] != f.Types[ts[j]] {
			return f.Types[ts[i]] > f.Types[ts[j]]
		}
		return ts[i] < ts[j]
	})
	return strings.Join(ts, "|")
}

func (c Change) message(s *Shape) string {
	learned := fmt.Sprintf("the shape learned from %d calls between %s and %s", s.Calls, s.Since.UTC().Format(time.DateOnly), s.Until.UTC().Format(time.DateOnly))
	switch c.Kind {
	case Appeared:
		return fmt.Sprintf("Field %s appeared (%s); %s never had it.", c.Pointer, c.After, learned)
	case Vanished:
		return fmt.Sprintf("Field %s vanished: every call of %s had it (%s).", c.Pointer, learned, c.Before)
	case Renamed:
		return fmt.Sprintf("Field %s was renamed %s (%s): every call of %s had %s, none had %s.", c.Pointer, c.To, c.After, learned, c.Pointer, c.To)
	default:
		return fmt.Sprintf("Field %s changed type from %s to %s, compared with %s.", c.Pointer, c.Before, c.After, learned)
	}
}

// walk records the JSON type of every field below v at pointer p: array elements are merged
// under /*, and keys that look like data under /{key}.
func walk(v any, p string, depth int, seen map[string]string) {
	if p != "" {
		if _, ok := seen[p]; !ok && len(seen) >= MaxFields {
			return
		}
		t := typeOf(v)
		if old, ok := seen[p]; ok && old != t {
			if old == "null" {
				seen[p] = t // merged array elements: a null element does not hide the others' type
			}
		} else if !ok {
			seen[p] = t
		}
	}
	if depth >= maxDepth {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			walk(c, p+"/"+escape(dataKey(k)), depth+1, seen)
		}
	case []any:
		for _, c := range x {
			walk(c, p+"/*", depth+1, seen)
		}
	}
}

func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	default:
		return "number" // json.Number, float64
	}
}

// dataKey is k, or {key} when k looks like data rather than a field name (an email address,
// a number, a long token), so values never become paths.
func dataKey(k string) string {
	if strings.Contains(k, "@") || len(k) > 64 || (k != "" && strings.Trim(k, "0123456789-") == "") {
		return "{key}"
	}
	return k
}

// escape writes a key as a JSON pointer segment (RFC 6901).
func escape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

func (l *Learner) save() {
	l.mu.Lock()
	put := map[string][]byte{}
	for r := range l.dirty {
		if b, err := json.Marshal(l.shapes[r]); err == nil {
			put[r] = b
		}
	}
	l.dirty = map[string]bool{}
	l.mu.Unlock()
	if err := l.st.SaveShapes(put); err != nil {
		l.log.Error().Err(err).Msg("drift: could not save the learned shapes; they are saved with the next call")
		l.mu.Lock()
		for r := range put {
			l.dirty[r] = true
		}
		l.mu.Unlock()
	}
}

// Shape returns a copy of route's shape; false when the route learns none or has seen no call.
func (l *Learner) Shape(route string) (Shape, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.shapes[route]
	if s == nil {
		return Shape{}, false
	}
	c := *s
	c.Fields = make(map[string]*Field, len(s.Fields))
	for p, f := range s.Fields {
		fc := &Field{Seen: f.Seen, Types: maps.Clone(f.Types)}
		c.Fields[p] = fc
	}
	c.Changes = slices.Clone(s.Changes)
	return c, true
}

// Routes lists the routes that learn a shape.
func (l *Learner) Routes() []string {
	return slices.Sorted(maps.Keys(l.cfg.Learn))
}
