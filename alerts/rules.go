package alerts

import (
	"fmt"
	"math"
	"time"
)

// The rule kinds, as they appear in config keys, alert ids and the API.
const (
	KindSilence     = "silence"
	KindErrorRate   = "error_rate"
	KindLatency     = "latency"
	KindAuth        = "auth"
	KindDeprecation = "deprecation"
	KindContract    = "contract"
	KindThrottle    = "throttle"
	// KindConsecutiveFailures fires after a run of failed deliveries on a route too quiet for
	// the error-rate rule to judge.
	KindConsecutiveFailures = "consecutive_failures"
	// KindRetired fires at once when calls reach an endpoint the vendor has retired.
	KindRetired = "retired"
	// KindStoreWrite fires while the transaction log cannot write (see StoreWriteFailed). It
	// belongs to no route: its alerts name the route StoreRoute.
	KindStoreWrite = "store_write"
	// KindCallers fires when calls that matched none of a route's callers (caller.unknown)
	// keep coming: a tool lost its key, or someone is trying the route.
	KindCallers = "callers"
	// KindNotificationsFailing fires when a sink has failed every notification for
	// SinkFailingFor; it goes to the other sinks (notifications.go).
	KindNotificationsFailing = "notifications_failing"
	// KindSharedLimits fires while the Redis of limits.shared does not answer
	// (limits_alert.go); its alerts name the route LimitsRoute.
	KindSharedLimits = "shared_limits"
)

// kind indexes a route's per-rule state.
type kind int

const (
	kindSilence kind = iota
	kindErrorRate
	kindLatency
	kindAuth
	kindDeprecation
	kindContract
	kindThrottle
	kindConsecutiveFailures
	kindRetired
	kindStoreWrite
	kindCallers
	kindNotifyFailing
	kindSharedLimits
	numKinds
)

func (k kind) String() string {
	switch k {
	case kindSilence:
		return KindSilence
	case kindErrorRate:
		return KindErrorRate
	case kindLatency:
		return KindLatency
	case kindAuth:
		return KindAuth
	case kindDeprecation:
		return KindDeprecation
	case kindContract:
		return KindContract
	case kindThrottle:
		return KindThrottle
	case kindConsecutiveFailures:
		return KindConsecutiveFailures
	case kindRetired:
		return KindRetired
	case kindStoreWrite:
		return KindStoreWrite
	case kindCallers:
		return KindCallers
	case kindNotifyFailing:
		return KindNotificationsFailing
	case kindSharedLimits:
		return KindSharedLimits
	}
	return "unknown"
}

// severity is how urgent an alert of this kind is: critical pages (data stops flowing),
// error is a degraded flow, warning is something to plan for.
func (k kind) severity() string {
	switch k {
	case kindSilence, kindAuth, kindStoreWrite, kindNotifyFailing:
		return "critical"
	case kindErrorRate, kindContract, kindConsecutiveFailures, kindRetired, kindCallers, kindSharedLimits:
		return "error"
	}
	return "warning"
}

// SilenceRule fires when a route delivers fewer than Min calls within Per while During says
// traffic is expected: the silence that is as loud as an error code.
type SilenceRule struct {
	Min int           // at least 1
	Per time.Duration // the window
	// During limits the rule to a schedule. If nil, it applies at all times.
	During *Schedule
}

// ErrorRateRule fires when more than Above of the calls within Per did not end delivered,
// once there are at least MinCalls of them. With fewer calls the rule has no verdict: an alert
// that fires keeps firing, one that does not is not fired.
type ErrorRateRule struct {
	Above    float64 // a fraction: 0.05 is 5%
	Per      time.Duration
	MinCalls int
}

// LatencyRule fires when the Percentile of vendor latency within Per is above Above, once
// there are at least MinCalls answered calls.
type LatencyRule struct {
	Percentile float64 // 0.95 for p95
	Above      time.Duration
	Per        time.Duration
	MinCalls   int
}

// AuthRule fires after Consecutive calls in a row that the vendor refused for their
// credentials (findings auth.expired, auth.invalid or auth.forbidden).
type AuthRule struct {
	Consecutive int
}

// DeprecationRule fires when calls still reach an endpoint whose sunset is less than
// SunsetWithin away (or already past), read from endpoint.deprecated and
// endpoint.deprecation_announced findings. The first call to a deprecated version on a route
// also sends one notice (EventNotice), however far away its sunset is.
type DeprecationRule struct {
	SunsetWithin time.Duration
}

// ConsecutiveFailuresRule fires after Count calls in a row were not delivered (outcome failed,
// unreachable, timeout or rejected) while the error-rate rule has no verdict (its window holds
// fewer than min_calls calls, or it is off): the low-volume route's error rate. A delivered or
// partial call ends the run; throttled and interrupted calls neither extend nor end it.
type ConsecutiveFailuresRule struct {
	Count int
}

// RetiredRule fires as soon as Calls calls carry endpoint.retired: the vendor has switched the
// endpoint off, so those calls fail (or are answered by another version) now.
type RetiredRule struct {
	Calls int
}

// ContractRule fires when at least Rejections calls within Per were rejected by a pinned
// contract (outcome rejected with a schema.* or contract.* finding).
type ContractRule struct {
	Rejections int
	Per        time.Duration
}

// CallersRule fires when at least Failures calls within Per matched none of the route's
// callers (finding caller.unknown). Such calls count for this rule only: a stranger's calls
// say nothing about the route's deliveries.
type CallersRule struct {
	Failures int
	Per      time.Duration
}

// ThrottleRule fires when a route's throttle queue stays fuller than QueueAbove for For.
type ThrottleRule struct {
	QueueAbove float64 // a fraction: 0.8 is 80%
	For        time.Duration
}

// Rules are the alert rules of one route; a nil rule is off.
type Rules struct {
	Silence     *SilenceRule
	ErrorRate   *ErrorRateRule
	Latency     *LatencyRule
	Auth        *AuthRule
	Deprecation *DeprecationRule
	Contract    *ContractRule
	Throttle    *ThrottleRule
	// ConsecutiveFailures and Retired are on by default like the rules above.
	ConsecutiveFailures *ConsecutiveFailuresRule
	Retired             *RetiredRule
	// Callers only sees calls on a route that names callers.
	Callers *CallersRule
}

// DefaultSunsetWithin is the deprecation rule's default horizon: most migrations to a vendor's
// new API version take longer than a month.
const DefaultSunsetWithin = 90 * 24 * time.Hour

// DefaultRules are the rules of a route whose config says nothing about alerts. Silence is off:
// expected volume is particular to each integration, so the route has to state it.
func DefaultRules() Rules {
	return Rules{
		ErrorRate:   &ErrorRateRule{Above: 0.10, Per: 10 * time.Minute, MinCalls: 20},
		Latency:     &LatencyRule{Percentile: 0.95, Above: 5 * time.Second, Per: 10 * time.Minute, MinCalls: 20},
		Auth:        &AuthRule{Consecutive: 3},
		Deprecation: &DeprecationRule{SunsetWithin: DefaultSunsetWithin},
		Contract:    &ContractRule{Rejections: 1, Per: 10 * time.Minute},
		Throttle:    &ThrottleRule{QueueAbove: 0.8, For: time.Minute},
		// 5 failed deliveries in a row: about an hour of a form sending 5 leads an hour, and
		// few enough that a run of that length is rarely chance.
		ConsecutiveFailures: &ConsecutiveFailuresRule{Count: 5},
		Retired:             &RetiredRule{Calls: 1},
		// 10 refusals in 10 minutes: more than a person mistyping a key, fewer than a script.
		Callers: &CallersRule{Failures: 10, Per: 10 * time.Minute},
	}
}

// DefaultSilence is the silence rule a route gets when its config writes silence: with some
// fields left out.
func DefaultSilence() SilenceRule { return SilenceRule{Min: 1, Per: time.Hour} }

// window counts calls in fixed time slots covering the last Per: O(1) per call, whatever the
// size of the log. The window covers between Per and Per plus one slot (1/60 of Per).
type window struct {
	width int64 // slot width in nanoseconds
	slots []counts
	head  int64 // slot number (time / width) of the newest slot
	sum   counts
}

// counts is what a window slot holds.
type counts struct {
	calls, bad, badRecords int
}

func (c *counts) add(o counts) { c.calls += o.calls; c.bad += o.bad; c.badRecords += o.badRecords }
func (c *counts) sub(o counts) { c.calls -= o.calls; c.bad -= o.bad; c.badRecords -= o.badRecords }

const windowSlots = 60

func newWindow(per time.Duration) *window {
	return &window{width: max(int64(per)/windowSlots, int64(time.Millisecond)), slots: make([]counts, windowSlots)}
}

func (w *window) slot(t time.Time) int64 { return t.UnixNano() / w.width }

// advance drops the slots that fell out of the window by t.
func (w *window) advance(t time.Time) {
	n := w.slot(t)
	if n <= w.head {
		return
	}
	if n-w.head >= int64(len(w.slots)) {
		clear(w.slots)
		w.sum = counts{}
	} else {
		for i := w.head + 1; i <= n; i++ {
			s := &w.slots[i%int64(len(w.slots))]
			w.sum.sub(*s)
			*s = counts{}
		}
	}
	w.head = n
}

// add counts c at t; a t older than the window is ignored.
func (w *window) add(t time.Time, c counts) {
	n := w.slot(t)
	if n > w.head {
		w.advance(t)
	} else if n <= w.head-int64(len(w.slots)) {
		return
	}
	w.slots[n%int64(len(w.slots))].add(c)
	w.sum.add(c)
}

// firstBad returns the start of the oldest slot with a bad call, or the zero time.
func (w *window) firstBad() time.Time {
	for i := w.head - int64(len(w.slots)) + 1; i <= w.head; i++ {
		if w.slots[i%int64(len(w.slots))].bad > 0 {
			return time.Unix(0, i*w.width)
		}
	}
	return time.Time{}
}

// Latency histogram: bucket i holds latencies up to latencyBase^i ms, from 1 ms to about 2 min.
const (
	latencyBase    = 1.25
	latencyBuckets = 54
)

func latencyBucket(ms float64) int {
	if ms <= 1 {
		return 0
	}
	return min(int(math.Ceil(math.Log(ms)/math.Log(latencyBase))), latencyBuckets-1)
}

func latencyBound(i int) float64 { return math.Pow(latencyBase, float64(i)) }

// hourStats are the last hour of a route for mtguard health: calls, deliveries and a latency
// histogram per minute.
type hourStats struct {
	head    int64 // minute number of the newest slot
	slots   [60]hourSlot
	sum     hourSlot
	samples [latencyBuckets]int // running sum of the slots' histograms
}

type hourSlot struct {
	calls, delivered, errors int
	hist                     [latencyBuckets]int32
}

func (h *hourStats) advance(t time.Time) {
	n := t.Unix() / 60
	if n <= h.head {
		return
	}
	if n-h.head >= int64(len(h.slots)) {
		h.slots = [60]hourSlot{}
		h.sum = hourSlot{}
		h.samples = [latencyBuckets]int{}
	} else {
		for i := h.head + 1; i <= n; i++ {
			s := &h.slots[i%60]
			h.sum.calls -= s.calls
			h.sum.delivered -= s.delivered
			h.sum.errors -= s.errors
			for b, c := range s.hist {
				h.samples[b] -= int(c)
			}
			*s = hourSlot{}
		}
	}
	h.head = n
}

// add counts one call at t: delivered means records arrived (delivered or partial), failed
// that the call did not end delivered; latencyMS < 0 means the vendor was not asked.
func (h *hourStats) add(t time.Time, delivered, failed bool, latencyMS float64) {
	n := t.Unix() / 60
	if n > h.head {
		h.advance(t)
	} else if n <= h.head-60 {
		return
	}
	s := &h.slots[n%60]
	s.calls++
	h.sum.calls++
	if delivered {
		s.delivered++
		h.sum.delivered++
	}
	if failed {
		s.errors++
		h.sum.errors++
	}
	if latencyMS >= 0 {
		b := latencyBucket(latencyMS)
		s.hist[b]++
		h.samples[b]++
	}
}

// percentile returns the q-th latency percentile in ms (interpolated within its bucket), or
// -1 without samples.
func (h *hourStats) percentile(q float64) float64 {
	total := 0
	for _, c := range h.samples {
		total += c
	}
	if total == 0 {
		return -1
	}
	rank := q * float64(total)
	seen := 0.0
	for i, c := range h.samples {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			lo := 0.0
			if i > 0 {
				lo = latencyBound(i - 1)
			}
			return lo + (latencyBound(i)-lo)*(rank-seen)/float64(c)
		}
		seen += float64(c)
	}
	return latencyBound(latencyBuckets - 1)
}

// ring holds the times of the last n deliveries, for the silence rule: fewer than Min
// deliveries within Per means the Min-th newest is older than Per.
type ring struct {
	times []time.Time
	next  int
	full  bool
}

func (r *ring) push(t time.Time) {
	if len(r.times) == 0 {
		return
	}
	r.times[r.next] = t
	r.next = (r.next + 1) % len(r.times)
	if r.next == 0 {
		r.full = true
	}
}

// oldest returns the oldest of the last n deliveries; ok is false with fewer than n.
func (r *ring) oldest() (time.Time, bool) {
	if !r.full {
		return time.Time{}, false
	}
	return r.times[r.next], true
}

// countSince counts the remembered deliveries after t.
func (r *ring) countSince(t time.Time) int {
	n := 0
	for i, at := range r.times {
		if (r.full || i < r.next) && at.After(t) {
			n++
		}
	}
	return n
}

// FormatPercent prints a fraction as a percentage: 0.05 -> "5%", 0.125 -> "12.5%".
func FormatPercent(f float64) string {
	return fmt.Sprintf("%s%%", trimFloat(f*100))
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.1f", f)
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		s = s[:len(s)-2]
	}
	return s
}

// FormatDuration prints a duration the way people write it: 30m, 1h30m, 2d, 45s, 1.2s.
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute && d%time.Second != 0:
		return trimFloat(d.Seconds()) + "s"
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	d = d.Round(time.Second)
	s := ""
	if h := d / time.Hour; h > 0 {
		s += fmt.Sprintf("%dh", h)
	}
	if m := d % time.Hour / time.Minute; m > 0 {
		s += fmt.Sprintf("%dm", m)
	}
	if sec := d % time.Minute / time.Second; sec > 0 {
		s += fmt.Sprintf("%ds", sec)
	}
	return s
}
