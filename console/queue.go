package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/txn"
)

// The delivery queue, drills, postmortems and journeys (issues 19, 22, 23), as the console
// shows them: each read and action is a call of the admin API, decoded into the few fields a
// page needs (the console may not import store or journeys).

// queueHealth is one route's delivery queue in GET /api/health.
type queueHealth struct {
	Route     string  `json:"route"`
	Depth     int     `json:"depth"`
	Retrying  int     `json:"retrying"`
	Held      int     `json:"held"`
	Dead      int     `json:"dead"`
	OldestAge float64 `json:"oldest_age_s"`
}

// drillView is a drill of GET /api/drills.
type drillView struct {
	ID        string    `json:"id"`
	Route     string    `json:"route"`
	Fault     string    `json:"fault"`
	Share     float64   `json:"share"`
	Expect    string    `json:"expect"`
	StartedBy string    `json:"started_by"`
	StartedAt time.Time `json:"started_at"`
	EndsAt    time.Time `json:"ends_at"`
	State     string    `json:"state"`
}

// runningDrills lists the drills under way; a server without drills shows none.
func (c *Console) runningDrills(r *http.Request, s *session) []drillView {
	var list struct {
		Drills []drillView `json:"drills"`
	}
	if err := c.call(r, s, http.MethodGet, "/api/drills", nil, &list); err != nil {
		return nil
	}
	return slices.DeleteFunc(list.Drills, func(d drillView) bool { return d.State != "running" })
}

// deliveryStates are the states GET /api/deliveries takes, in the queue's order.
var deliveryStates = []string{"pending", "retrying", "sending", "held", "dead"}

type deliveryAttempt struct {
	At      time.Time `json:"at"`
	TxID    string    `json:"tx_id"`
	Outcome string    `json:"outcome"`
	Status  int       `json:"status"`
	Error   string    `json:"error"`
}

type deliveryView struct {
	ID         string            `json:"id"`
	Route      string            `json:"route"`
	RecordKeys []string          `json:"record_keys"`
	State      string            `json:"state"`
	Created    time.Time         `json:"created"`
	NextAt     time.Time         `json:"next_at"`
	Attempts   []deliveryAttempt `json:"attempts"`
	LastError  string            `json:"last_error"`
	Reason     string            `json:"reason"`
	Source     string            `json:"source"`
	RetriedAt  time.Time         `json:"retried_at"`
	RetriedBy  string            `json:"retried_by"`
}

type deliveriesData struct {
	Route, State string
	States       []string
	Deliveries   []deliveryView
	Limited      bool
	// NoQueue says no route has a delivery queue (the API does not serve one).
	NoQueue bool
}

// deliveriesShown bounds the Deliveries page; the API lists the whole bucket (it is the
// queue, not the log: it holds only calls not yet delivered).
const deliveriesShown = 500

func (c *Console) deliveries(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	d := deliveriesData{Route: strings.TrimSpace(q.Get("route")), State: q.Get("state"), States: deliveryStates}
	v := view{Title: "Deliveries", Nav: "deliveries"}
	api := url.Values{}
	if d.Route != "" {
		api.Set("route", d.Route)
	}
	if d.State != "" {
		api.Set("state", d.State)
	}
	var rep struct {
		Deliveries []deliveryView `json:"deliveries"`
	}
	switch err := c.call(r, s, http.MethodGet, "/api/deliveries?"+api.Encode(), nil, &rep); {
	case err == nil:
	case isStatus(err, http.StatusBadRequest):
		v.Error = err.Error()
	case isStatus(err, http.StatusNotFound), isStatus(err, http.StatusNotImplemented):
		d.NoQueue = true // this mtguard runs no delivery queue
	default:
		return err
	}
	d.Deliveries = rep.Deliveries
	if len(d.Deliveries) > deliveriesShown {
		d.Deliveries, d.Limited = d.Deliveries[:deliveriesShown], true
	}
	switch {
	case q.Get("retried") != "":
		v.Notice = "Retry asked for " + q.Get("retried") + ": it is due now."
	case q.Get("retriedall") != "":
		v.Notice = "Retry asked for " + q.Get("retriedall") + " held, dead or retrying deliveries of " + d.Route + ": they are due now."
	case q.Get("dropped") != "":
		v.Notice = "Dropped " + q.Get("dropped") + " from the queue; it will not be sent again (the call stays in the log)."
	}
	v.Data = d
	c.render(w, r, http.StatusOK, "deliveries", s, v)
	return nil
}

// back is the Deliveries page with the filters the form carried, and a notice.
func deliveriesBack(r *http.Request, key, id string) string {
	v := url.Values{key: {id}}
	for _, k := range []string{"route", "state"} {
		if x := r.PostFormValue(k); x != "" {
			v.Set(k, x)
		}
	}
	return "/deliveries?" + v.Encode()
}

// retryDelivery makes a delivery due now, through POST /api/deliveries/{id}/retry.
func (c *Console) retryDelivery(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	if err := c.call(r, s, http.MethodPost, "/api/deliveries/"+url.PathEscape(id)+"/retry", struct{}{}, nil); err != nil {
		return err
	}
	http.Redirect(w, r, deliveriesBack(r, "retried", id), http.StatusSeeOther)
	return nil
}

// retryRoute makes every held, dead or retrying delivery of a route due now, through
// POST /api/deliveries/retry.
func (c *Console) retryRoute(w http.ResponseWriter, r *http.Request, s *session) error {
	route := strings.TrimSpace(r.PostFormValue("route"))
	var res struct {
		Count int `json:"count"`
	}
	if err := c.call(r, s, http.MethodPost, "/api/deliveries/retry", map[string]string{"route": route}, &res); err != nil {
		return err
	}
	http.Redirect(w, r, "/deliveries?"+url.Values{"route": {route}, "retriedall": {strconv.Itoa(res.Count)}}.Encode(), http.StatusSeeOther)
	return nil
}

// dropDelivery takes a delivery off the queue, through POST /api/deliveries/{id}/drop; the
// reason is required (the API keeps it in the audit log).
func (c *Console) dropDelivery(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		c.render(w, r, http.StatusBadRequest, "error", s, view{Title: "Not dropped", Nav: "deliveries", Error: "Nothing was dropped: say why (the reason is kept in the audit log)."})
		return nil
	}
	if err := c.call(r, s, http.MethodPost, "/api/deliveries/"+url.PathEscape(id)+"/drop", map[string]string{"reason": reason}, nil); err != nil {
		return err
	}
	http.Redirect(w, r, deliveriesBack(r, "dropped", id), http.StatusSeeOther)
	return nil
}

// postmortem shows an alert's postmortem: the API's JSON, rendered by the console's own
// template (the same sections as the API's HTML file), so under the console's CSP and with
// every stored text escaped; the Markdown and HTML files are there to download.
func (c *Console) postmortem(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	var pm inspect.Postmortem
	if err := c.call(r, s, http.MethodGet, "/api/postmortems?"+url.Values{"alert": {id}}.Encode(), nil, &pm); err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "postmortem", s, view{Title: "Postmortem of " + id, Nav: "alerts", Data: pm})
	return nil
}

// secs says a duration the postmortem measured, or that the record cannot tell it.
func secs(p *float64) string {
	if p == nil {
		return "unknown"
	}
	return time.Duration(*p * float64(time.Second)).Round(time.Second).String()
}

// postmortemFile sends the API's Markdown or HTML postmortem as a download. The HTML file is
// self-contained; served here it gets the console's strict CSP like every console answer
// (its inline style then waits until the file is opened from disk).
func (c *Console) postmortemFile(w http.ResponseWriter, r *http.Request, s *session) error {
	id, format := r.PathValue("id"), r.PathValue("format")
	ctype := map[string]string{"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8"}[format]
	if ctype == "" {
		c.render(w, r, http.StatusNotFound, "error", s, view{Title: "Not found", Error: "A postmortem downloads as md or html."})
		return nil
	}
	var b []byte
	if err := c.call(r, s, http.MethodGet, "/api/postmortems?"+url.Values{"alert": {id}, "format": {format}}.Encode(), nil, &b); err != nil {
		return err
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="postmortem-`+safeFileName(id)+"."+format+`"`)
	w.Write(b)
	return nil
}

// safeFileName keeps letters, digits, dash, dot and underscore of s.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// journeyStep and journeyView are GET /api/journeys/{key}'s answer.
type journeyStep struct {
	Route     string      `json:"route"`
	Reached   bool        `json:"reached"`
	Time      time.Time   `json:"time"`
	Outcome   txn.Outcome `json:"outcome"`
	Delivered bool        `json:"delivered"`
	Call      string      `json:"call"`
	Calls     int         `json:"calls"`
}

type journeyView struct {
	Journey string        `json:"journey"`
	State   string        `json:"state"`
	Entered time.Time     `json:"entered"`
	Due     time.Time     `json:"due"`
	LostAt  time.Time     `json:"lost_at"`
	Steps   []journeyStep `json:"steps"`
	Stopped string        `json:"stopped"`
}

// journeysOf reads the record's journeys; none when journeys are not configured (501) or the
// API cannot say.
func (c *Console) journeysOf(r *http.Request, s *session, record string) []journeyView {
	var ans struct {
		Journeys []journeyView `json:"journeys"`
	}
	if err := c.call(r, s, http.MethodGet, "/api/journeys/"+url.PathEscape(record), nil, &ans); err != nil {
		return nil
	}
	return ans.Journeys
}

// age says how old something of n seconds is, for a card.
func age(secs float64) string {
	d := time.Duration(secs * float64(time.Second))
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		return strconv.FormatFloat(d.Hours(), 'f', 1, 64) + " h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days"
}
