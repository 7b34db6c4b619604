package alerts

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// DefaultPagerDutyURL is PagerDuty's Events API v2 endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// sinkTimeout bounds one delivery attempt.
const sinkTimeout = 10 * time.Second

// NewSinkClient returns the HTTP client sinks use when given none: a bounded wait, and no
// redirects (an endpoint that redirects is misconfigured, and following would resend the
// payload somewhere nobody configured).
func NewSinkClient() *http.Client {
	return &http.Client{
		Timeout:       sinkTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// SlackSink posts to a Slack incoming webhook
// (https://api.slack.com/messaging/webhooks): {"text": "..."} in Slack's mrkdwn.
type SlackSink struct {
	name, url string
	hc        *http.Client
}

// NewSlackSink returns a sink named name posting to the incoming-webhook URL (a secret: it
// is never logged). If hc is nil, NewSinkClient() is used.
func NewSlackSink(name, webhookURL string, hc *http.Client) *SlackSink {
	if hc == nil {
		hc = NewSinkClient()
	}
	return &SlackSink{name: name, url: webhookURL, hc: hc}
}

// Name implements Sink.
func (s *SlackSink) Name() string { return s.name }

// Send implements Sink.
func (s *SlackSink) Send(ctx context.Context, n Notification) error {
	body, err := json.Marshal(struct {
		Text string `json:"text"`
	}{SlackText(n)})
	if err != nil {
		return err
	}
	return post(ctx, s.hc, s.url, body, nil)
}

// SlackText is the message of n as Slack shows it: what is wrong, since when, how many calls
// and records, who owns it and the command to look. Text from calls is escaped; the owner is
// not, so that an owner written as <@U024BE7LH> mentions that person.
func SlackText(n Notification) string {
	a := n.Alert
	title := fmt.Sprintf("*%s: %s*", slackEscape(a.Route), a.Kind)
	var b strings.Builder
	switch n.Event {
	case EventFiring:
		fmt.Fprintf(&b, ":rotating_light: %s (%s)\n%s\n", title, a.Severity, slackEscape(a.Summary))
	case EventReminder:
		fmt.Fprintf(&b, ":repeat: Still firing: %s (%s)\n%s\n", title, a.Severity, slackEscape(a.Summary))
	case EventNotice:
		fmt.Fprintf(&b, ":information_source: Notice: %s\n%s\n", title, slackEscape(a.Summary))
	case EventTest:
		fmt.Fprintf(&b, ":test_tube: Test from mtguard: %s\n", slackEscape(a.Summary))
		fmt.Fprintf(&b, "*Owner:* %s\n*Sent with:* `%s`", cmp.Or(a.Owner, "-"), a.Command)
		return b.String()
	case EventResolved:
		fmt.Fprintf(&b, ":white_check_mark: Resolved: %s after %s\n%s\n", title, FormatDuration(a.ResolvedAt.Sub(a.FiredAt).Round(time.Minute)), slackEscape(a.Resolution))
	case EventAcknowledged:
		who := a.AckedBy
		if who == "" {
			who = "someone"
		}
		fmt.Fprintf(&b, ":eyes: Acknowledged: %s by %s", title, slackEscape(who))
		if a.AckComment != "" {
			fmt.Fprintf(&b, ": %s", slackEscape(a.AckComment))
		}
		if !a.SilencedUntil.IsZero() {
			fmt.Fprintf(&b, " (muted until %s)", a.SilencedUntil.UTC().Format("2006-01-02 15:04 MST"))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "*Since:* %s (%s ago)\n", a.Since.UTC().Format("2006-01-02 15:04 MST"), FormatDuration(n.Time.Sub(a.Since).Round(time.Minute)))
	fmt.Fprintf(&b, "*Affected:* %d calls, %d records\n", a.Calls, a.Records)
	fmt.Fprintf(&b, "*Owner:* %s\n", cmp.Or(a.Owner, "-"))
	fmt.Fprintf(&b, "*Look:* `%s`", a.Command)
	if n.Event == EventFiring || n.Event == EventReminder {
		fmt.Fprintf(&b, "\n*Acknowledge:* `mtguard alerts ack %s`", a.ID)
	}
	return b.String()
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning to.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// PagerDutySink sends PagerDuty Events API v2 events
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/): trigger on firing,
// acknowledge, and resolve, with the alert id as dedup key so all three reach one incident.
// Reminders are not sent: PagerDuty escalates on its own.
type PagerDutySink struct {
	name, routingKey, url string
	hc                    *http.Client
}

// NewPagerDutySink returns a sink named name sending with the integration's routing key (a
// secret: it is never logged) to eventsURL. If eventsURL is empty, DefaultPagerDutyURL; if hc
// is nil, NewSinkClient().
func NewPagerDutySink(name, routingKey, eventsURL string, hc *http.Client) *PagerDutySink {
	if eventsURL == "" {
		eventsURL = DefaultPagerDutyURL
	}
	if hc == nil {
		hc = NewSinkClient()
	}
	return &PagerDutySink{name: name, routingKey: routingKey, url: eventsURL, hc: hc}
}

// Name implements Sink.
func (s *PagerDutySink) Name() string { return s.name }

type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Client      string     `json:"client,omitempty"`
	Payload     *pdPayload `json:"payload,omitempty"`
}

type pdPayload struct {
	Summary       string    `json:"summary"`
	Source        string    `json:"source"`
	Severity      string    `json:"severity"`
	Timestamp     time.Time `json:"timestamp"`
	Component     string    `json:"component"`
	Class         string    `json:"class"`
	CustomDetails pdDetails `json:"custom_details"`
}

type pdDetails struct {
	Owner       string    `json:"owner"`
	Since       time.Time `json:"since"`
	Calls       int       `json:"affected_calls"`
	Records     int       `json:"affected_records"`
	Look        string    `json:"look"`
	Acknowledge string    `json:"acknowledge"`
}

// pdSummaryMax is the longest summary PagerDuty accepts.
const pdSummaryMax = 1024

// Send implements Sink.
func (s *PagerDutySink) Send(ctx context.Context, n Notification) error {
	a := n.Alert
	ev := pdEvent{RoutingKey: s.routingKey, DedupKey: a.ID}
	switch n.Event {
	case EventFiring:
		ev.EventAction = "trigger"
		ev.Client = "mtguard"
		ev.Payload = &pdPayload{
			Summary:   txn.Truncate(fmt.Sprintf("[%s] %s: %s", a.Route, a.Kind, a.Summary), pdSummaryMax),
			Source:    "mtguard route " + a.Route,
			Severity:  a.Severity,
			Timestamp: a.FiredAt.UTC(),
			Component: a.Route,
			Class:     a.Kind,
			CustomDetails: pdDetails{Owner: a.Owner, Since: a.Since.UTC(), Calls: a.Calls, Records: a.Records,
				Look: a.Command, Acknowledge: "mtguard alerts ack " + a.ID},
		}
	case EventTest:
		// A test is an incident opened and closed at once: PagerDuty shows it was received.
		ev.EventAction = "trigger"
		ev.Client = "mtguard"
		ev.Payload = &pdPayload{Summary: txn.Truncate(a.Summary, pdSummaryMax), Source: "mtguard", Severity: "info",
			Timestamp: a.FiredAt.UTC(), Component: "alerts", Class: EventTest, CustomDetails: pdDetails{Look: a.Command}}
		body, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if err := post(ctx, s.hc, s.url, body, nil); err != nil {
			return err
		}
		ev = pdEvent{RoutingKey: s.routingKey, DedupKey: a.ID, EventAction: "resolve"}
	case EventAcknowledged:
		ev.EventAction = "acknowledge"
	case EventResolved:
		ev.EventAction = "resolve"
	default:
		return nil
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return post(ctx, s.hc, s.url, body, nil)
}

// WebhookPayload is the body a webhook sink posts (version 1). Alert has the fields of
// store.Alert; a receiver should ignore fields it does not know.
type WebhookPayload struct {
	Version int    `json:"version"`
	Event   string `json:"event"` // firing, reminder, resolved or acknowledged
	// Time is when the event happened (not when this delivery was attempted).
	Time  time.Time `json:"time"`
	Alert any       `json:"alert"`
}

// Webhook signature headers: X-Mtguard-Signature is "sha256=" and the hex HMAC-SHA256, keyed
// with the sink's secret, of X-Mtguard-Timestamp, a ".", and the body.
const (
	HeaderSignature = "X-Mtguard-Signature"
	HeaderTimestamp = "X-Mtguard-Timestamp"
	HeaderEvent     = "X-Mtguard-Event"
)

// WebhookSink posts WebhookPayload as JSON to any URL, signed when it has a secret.
type WebhookSink struct {
	name, url string
	secret    []byte
	hc        *http.Client
	now       func() time.Time
}

// NewWebhookSink returns a sink named name posting to url. A non-empty secret signs every
// delivery (see HeaderSignature). If hc is nil, NewSinkClient(); if now is nil, time.Now.
func NewWebhookSink(name, url, secret string, hc *http.Client, now func() time.Time) *WebhookSink {
	if hc == nil {
		hc = NewSinkClient()
	}
	if now == nil {
		now = time.Now
	}
	return &WebhookSink{name: name, url: url, secret: []byte(secret), hc: hc, now: now}
}

// Name implements Sink.
func (s *WebhookSink) Name() string { return s.name }

// Send implements Sink.
func (s *WebhookSink) Send(ctx context.Context, n Notification) error {
	body, err := json.Marshal(WebhookPayload{Version: 1, Event: n.Event, Time: n.Time.UTC(), Alert: n.Alert})
	if err != nil {
		return err
	}
	h := http.Header{HeaderEvent: {n.Event}}
	if len(s.secret) > 0 {
		ts := strconv.FormatInt(s.now().Unix(), 10)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, SignWebhook(s.secret, ts, body))
	}
	return post(ctx, s.hc, s.url, body, h)
}

// SignWebhook returns the X-Mtguard-Signature value of body sent at timestamp ts (Unix
// seconds, as sent in X-Mtguard-Timestamp). A receiver recomputes it with the shared secret,
// compares in constant time, and refuses timestamps more than a few minutes old.
func SignWebhook(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// maxSinkAnswer bounds how much of an endpoint's answer is read, and sinkAnswerShown how much
// of it an error quotes.
const (
	maxSinkAnswer   = 64 << 10
	sinkAnswerShown = 200
)

// post sends body as JSON. Its errors say what went wrong without the URL, which for Slack
// and many webhooks is the secret.
func post(ctx context.Context, hc *http.Client, target string, body []byte, h http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return &SinkError{Msg: "the sink's URL is not a valid http(s) URL", permanent: true}
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mtguard")
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &SinkError{Msg: "send: " + err.Error()}
	}
	defer resp.Body.Close()
	noteAnswer(ctx, resp.StatusCode)
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxSinkAnswer))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	se := &SinkError{Status: resp.StatusCode}
	se.Msg = fmt.Sprintf("endpoint answered %s", strings.TrimSpace(strconv.Itoa(resp.StatusCode)+" "+http.StatusText(resp.StatusCode)))
	if text := strings.TrimSpace(string(answer)); text != "" {
		se.Msg += ": " + txn.Truncate(txn.Clean(text, false), sinkAnswerShown)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		if secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && secs > 0 {
			se.RetryAfter = time.Duration(secs) * time.Second
		}
	default:
		se.permanent = true
	}
	return se
}
