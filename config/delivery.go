package config

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/vendors"
	"github.com/mtguard/mtguard/yamlstrict"
)

// Delivery modes.
const (
	// DeliveryInline sends the call while the tool waits and hands it the vendor's answer.
	DeliveryInline = "inline"
	// DeliveryQueue answers the tool with the route's accept answer as soon as the call is on
	// disk, and delivers it in the background (store and forward).
	DeliveryQueue = "queue"
)

// Retry conditions: what may make mtguard send a call again.
const (
	RetryUnreachable = "unreachable" // no connection: refused, DNS, TLS; the vendor cannot have acted
	RetryTimeout     = "timeout"     // no answer in time: the vendor may have acted, so only for idempotent calls
	Retry429         = "429"
	Retry503         = "503"
	Retry5xx         = "5xx"       // any 5xx; those other than 503 with Retry-After only for idempotent calls
	RetryRateLimit   = "ratelimit" // a vendor's documented limit signal (Marketo 606 in a 200)
	RetryQuota       = "quota"     // a daily or rolling quota signal: retried after its reset
	RetryThrottled   = "throttled" // mtguard's own throttle: nothing was sent
)

// RetryConditions lists every retry condition, in the order the manual gives them.
var RetryConditions = []string{RetryUnreachable, RetryTimeout, Retry429, Retry503, Retry5xx, RetryRateLimit, RetryQuota, RetryThrottled}

// Defaults of a route's delivery block.
const (
	DefaultRetryAttempts     = 12
	DefaultBackoffMin        = time.Second
	DefaultBackoffMax        = 10 * time.Minute
	DefaultGiveUpAfter       = 72 * time.Hour
	DefaultAcceptStatus      = http.StatusAccepted
	DefaultAcceptBody        = `{"queued": true, "id": "{id}"}`
	DefaultAcceptType        = "application/json"
	DefaultInlineRetryWithin = 10 * time.Second
)

// Delivery is a route's delivery block: how its calls reach the vendor, and what is resent.
type Delivery struct {
	Mode string // DeliveryInline or DeliveryQueue
	// Accept is the answer a tool gets in queue mode; {id} in the body becomes the call's id.
	Accept Accept
	// AcceptGiven says the route wrote accept: itself.
	AcceptGiven bool
	Retry       Retry
	// GiveUpAfter is how long after the call a delivery still tries; then it is a dead letter.
	GiveUpAfter time.Duration
	// Redeliver (redeliver: auto) resends an inline call that failed in a retryable way in the
	// background, once the tool has its answer. Queue mode always does.
	Redeliver bool
	// Idempotent says every call of the route may be resent after an ambiguous failure (a
	// timeout): the route's calls are upserts, or the vendor deduplicates them.
	Idempotent bool
	// NotIdempotent (idempotent: false) overrides the preset: no call of the route is resent
	// after an ambiguous failure, whatever the preset declares of its operations.
	NotIdempotent bool
	// IdempotencyHeader is a header mtguard adds to every attempt, valued the call's id, the
	// same on every attempt, for vendors that deduplicate on it (Idempotency-Key). Calls then
	// count as idempotent.
	IdempotencyHeader string
	Line              int
}

// Accept is mtguard's own answer to a call it queued.
type Accept struct {
	Status      int
	Body        string
	ContentType string
}

// Retry says when and how often a call is sent again.
type Retry struct {
	On         []string // RetryConditions
	Attempts   int      // sends at most, the first included
	BackoffMin time.Duration
	BackoffMax time.Duration
	Jitter     bool
	// Within bounds the retries an inline call makes while its tool waits.
	Within time.Duration
}

// Retries reports whether cond is one of the conditions the route retries on.
func (r Retry) Retries(cond string) bool { return slices.Contains(r.On, cond) }

// Queued reports whether the route's calls go through the delivery queue.
func (d *Delivery) Queued() bool { return d != nil && d.Mode == DeliveryQueue }

// Background reports whether the route's failed calls are redelivered in the background.
func (d *Delivery) Background() bool { return d != nil && (d.Mode == DeliveryQueue || d.Redeliver) }

var deliveryKeys = []string{"mode", "accept", "retry", "give_up_after", "redeliver", "idempotent", "idempotency_header"}

// delivery reads a route's delivery block; nil when absent. preset is the route's vendor, for
// the operations whose answer the tool needs.
func (p *configParser) delivery(n *yaml.Node, key string, preset *vendors.Preset) *Delivery {
	if !yamlstrict.Given(n) {
		return nil
	}
	f, ok := p.Mapping(n, key, deliveryKeys...)
	if !ok {
		return nil
	}
	d := &Delivery{Mode: DeliveryInline, Line: yamlstrict.Deref(n).Line, GiveUpAfter: DefaultGiveUpAfter,
		Accept: Accept{Status: DefaultAcceptStatus, Body: DefaultAcceptBody, ContentType: DefaultAcceptType}}
	if s, ok := p.OneOf(f.Get("mode"), key+".mode", DeliveryInline, DeliveryQueue); ok {
		d.Mode = s
	}
	d.Retry = p.retry(f.Get("retry"), key+".retry", d.Mode)
	d.GiveUpAfter = p.duration(f.Get("give_up_after"), key+".give_up_after", DefaultGiveUpAfter)
	if s, ok := p.Str(f.Get("redeliver"), key+".redeliver"); ok {
		switch s {
		case "auto":
			d.Redeliver = true
		case "off", "false":
		default:
			p.Addf(f.Get("redeliver").Line, key+".redeliver", "%q is not an option (write auto to resend failed calls in the background, or leave it out)", s)
		}
	}
	var given bool
	d.Idempotent, given = p.Bool(f.Get("idempotent"), key+".idempotent")
	d.NotIdempotent = given && !d.Idempotent
	if s, ok := p.Str(f.Get("idempotency_header"), key+".idempotency_header"); ok {
		if http.CanonicalHeaderKey(s) == "" || strings.ContainsAny(s, " :\t") {
			p.Addf(f.Get("idempotency_header").Line, key+".idempotency_header", "%q is not a header name (e.g. Idempotency-Key)", s)
		} else {
			d.IdempotencyHeader = http.CanonicalHeaderKey(s)
		}
	}
	if yamlstrict.Given(f.Get("accept")) {
		d.AcceptGiven = true
		d.Accept = p.accept(f.Get("accept"), key+".accept")
		if d.Mode != DeliveryQueue {
			p.Addf(f.Get("accept").Line, key+".accept", "accept is the answer of a queued call; it needs mode: queue")
		}
	}
	if d.Mode == DeliveryQueue && !d.AcceptGiven && preset != nil {
		var need []string
		for _, op := range preset.Delivery {
			if op.AnswerNeeded {
				need = append(need, strings.TrimSpace(op.Method+" "+op.Path))
			}
		}
		if len(need) > 0 {
			line := f.Get("mode").Line
			p.Addf(line, key+".mode", "preset %s says the vendor's answer to %s carries data the tool needs (such as the new record's id), and a queued call is answered by mtguard, not the vendor; use mode: inline (with redeliver: auto), or write accept: to state the answer the tool gets if it does not read the vendor's",
				preset.Name, strings.Join(need, ", "))
		}
	}
	return d
}

// retry reads a delivery's retry block.
func (p *configParser) retry(n *yaml.Node, key, mode string) Retry {
	r := Retry{
		On:       []string{RetryUnreachable, RetryTimeout, Retry429, Retry5xx, RetryRateLimit, RetryQuota, RetryThrottled},
		Attempts: DefaultRetryAttempts, BackoffMin: DefaultBackoffMin, BackoffMax: DefaultBackoffMax, Jitter: true,
	}
	if mode == DeliveryInline {
		r.Within = DefaultInlineRetryWithin
	}
	f, ok := p.Mapping(n, key, "on", "attempts", "backoff", "jitter", "within")
	if !ok {
		return r
	}
	if items := p.List(f.Get("on"), key+".on"); items != nil {
		r.On = nil
		for _, it := range items {
			c := strings.ToLower(it.Val)
			if !slices.Contains(RetryConditions, c) {
				p.Addf(it.Line, it.Key, "%q is not a retry condition (known: %s)", it.Val, strings.Join(RetryConditions, ", "))
				continue
			}
			r.On = append(r.On, c)
		}
	}
	if v, ok := p.Int(f.Get("attempts"), key+".attempts"); ok {
		if v < 1 || v > 1000 {
			p.Addf(f.Get("attempts").Line, key+".attempts", "%d must be from 1 (no retry) to 1000", v)
		} else {
			r.Attempts = v
		}
	}
	if s, ok := p.Str(f.Get("backoff"), key+".backoff"); ok {
		line := f.Get("backoff").Line
		lo, hi, found := strings.Cut(s, "..")
		a, errA := time.ParseDuration(strings.TrimSpace(lo))
		b, errB := time.ParseDuration(strings.TrimSpace(hi))
		switch {
		case !found || errA != nil || errB != nil:
			p.Addf(line, key+".backoff", "%q is not a backoff range (write min..max, e.g. 1s..10m)", s)
		case a <= 0 || b <= 0:
			p.Addf(line, key+".backoff", "%q: both ends must be greater than zero", s)
		case a > b:
			p.Addf(line, key+".backoff", "%q: the minimum %s is more than the maximum %s; write min..max", s, a, b)
		default:
			r.BackoffMin, r.BackoffMax = a, b
		}
	}
	if v, ok := p.Bool(f.Get("jitter"), key+".jitter"); ok {
		r.Jitter = v
	}
	if yamlstrict.Given(f.Get("within")) {
		r.Within = p.duration(f.Get("within"), key+".within", r.Within)
		if mode == DeliveryQueue {
			p.Addf(f.Get("within").Line, key+".within", "within bounds the retries made while the tool waits, and in mode: queue the tool does not wait; remove it (give_up_after bounds a queued call)")
		}
	}
	return r
}

// accept reads the answer a queued call gets.
func (p *configParser) accept(n *yaml.Node, key string) Accept {
	a := Accept{Status: DefaultAcceptStatus, Body: DefaultAcceptBody, ContentType: DefaultAcceptType}
	f, ok := p.Mapping(n, key, "status", "body", "content_type")
	if !ok {
		return a
	}
	if v, ok := p.Int(f.Get("status"), key+".status"); ok {
		if v < 200 || v > 299 {
			p.Addf(f.Get("status").Line, key+".status", "%d: a queued call is answered with a 2xx status (202 Accepted is usual)", v)
		} else {
			a.Status = v
		}
	}
	if s, ok := p.Str(f.Get("body"), key+".body"); ok {
		a.Body = s
		if !yamlstrict.Given(f.Get("content_type")) && !strings.HasPrefix(strings.TrimSpace(s), "{") && !strings.HasPrefix(strings.TrimSpace(s), "[") {
			a.ContentType = "text/plain; charset=utf-8"
		}
	}
	if s, ok := p.Str(f.Get("content_type"), key+".content_type"); ok {
		a.ContentType = s
	}
	return a
}

// BodyFor is the accept body for the call id.
func (a Accept) BodyFor(id string) string {
	return strings.ReplaceAll(a.Body, "{id}", id)
}

// String describes the delivery for check-config's summary.
func (d *Delivery) String() string {
	if d == nil {
		return DeliveryInline
	}
	s := d.Mode + ", retry on " + strings.Join(d.Retry.On, ",") + ", " + strconv.Itoa(d.Retry.Attempts) + " attempts"
	if d.Background() {
		s += fmt.Sprintf(", in the background for up to %s", d.GiveUpAfter)
	}
	return s
}
