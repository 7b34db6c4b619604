package console

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// page is a page of calls as GET /api/transactions answers it.
type txPage struct {
	Transactions []txn.Transaction `json:"transactions"`
	Next         string            `json:"next"`
}

// timeRange is one choice of the Calls page's Since list.
type timeRange struct{ Value, Label string }

// callFilters are the Calls page's filters, each passed to the API as is.
var callFilters = []string{"record", "route", "outcome", "finding", "status", "since", "until"}

type callsData struct {
	Filters  map[string]string
	Query    template.URL // the filters as a query string (url.Values.Encode), for polling and paging
	Rows     []txn.Transaction
	Next     string
	Cursor   string
	Outcomes []txn.Outcome
	Routes   []string
	Ranges   []timeRange
	Live     bool
	// Search is the text searched for; Scanned how many calls the search read.
	Search  string
	Scanned int
}

func (c *Console) callsQuery(r *http.Request) (url.Values, callsData) {
	in := r.URL.Query()
	q := url.Values{}
	d := callsData{Filters: map[string]string{}, Outcomes: txn.Outcomes, Ranges: []timeRange{{"", "any time"}, {"15m", "last 15 minutes"}, {"1h", "last hour"}, {"24h", "last 24 hours"}, {"168h", "last 7 days"}}}
	for _, f := range callFilters {
		if v := strings.TrimSpace(in.Get(f)); v != "" {
			q.Set(f, v)
			d.Filters[f] = v
		}
	}
	if since := d.Filters["since"]; since != "" && !slices.ContainsFunc(d.Ranges, func(r timeRange) bool { return r.Value == since }) {
		d.Ranges = append(d.Ranges, timeRange{since, "since " + since}) // from a link: shown, not silently dropped
	}
	links := url.Values{}
	for k, v := range q {
		links[k] = v
	}
	if text := strings.TrimSpace(in.Get("q")); text != "" {
		d.Filters["q"], d.Search = text, text
		links.Set("q", text)
	}
	d.Query = template.URL(links.Encode())
	if cur := in.Get("cursor"); cur != "" {
		q.Set("cursor", cur)
		d.Cursor = cur
	}
	q.Set("limit", "50")
	d.Live = d.Cursor == "" && d.Filters["until"] == "" && d.Search == ""
	return q, d
}

// Text search reads stored calls through the API's pages, newest first, and keeps those
// whose path, record keys or bodies contain the text: searchScan calls at most per request (about 60 ms on a quiet machine),
// so a search costs the same however large the store; the page says how many calls it read
// and links to the next stretch. The store has no full-text index (yet).
const (
	searchScan = 2000
	searchPage = 500
	searchRows = 50
)

// search fills d.Rows with the matches among the calls the API lists for q (the other
// filters), from q's cursor on.
func (c *Console) search(r *http.Request, s *session, q url.Values, d *callsData) error {
	needle := strings.ToLower(d.Search)
	q.Set("limit", strconv.Itoa(searchPage))
	for d.Scanned < searchScan && len(d.Rows) < searchRows {
		var p txPage
		if err := c.call(r, s, http.MethodGet, "/api/transactions?"+q.Encode(), nil, &p); err != nil {
			return err
		}
		for _, tx := range p.Transactions {
			if matches(tx, needle) {
				d.Rows = append(d.Rows, tx)
			}
		}
		d.Scanned += len(p.Transactions)
		d.Next = p.Next
		if p.Next == "" {
			break
		}
		q.Set("cursor", p.Next)
	}
	return nil
}

// matches reports whether a call's path, record keys or text bodies contain needle (lower
// case). Binary bodies (stored as base64) are not searched.
func matches(tx txn.Transaction, needle string) bool {
	fields := append([]string{tx.Path}, tx.RecordKeys...)
	for _, m := range []txn.Message{tx.Request, tx.Response} {
		if m.BodyEncoding == "" {
			fields = append(fields, m.Body)
		}
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), needle) {
			return true
		}
	}
	return false
}

func (c *Console) calls(w http.ResponseWriter, r *http.Request, s *session) error {
	q, d := c.callsQuery(r)
	var p txPage
	var err error
	if d.Search != "" {
		err = c.search(r, s, q, &d)
		p.Transactions, p.Next = d.Rows, d.Next
	} else {
		err = c.call(r, s, http.MethodGet, "/api/transactions?"+q.Encode(), nil, &p)
	}
	if isStatus(err, http.StatusBadRequest) {
		// A filter the API refuses is shown beside the form, not as a broken page.
		c.render(w, r, http.StatusBadRequest, "calls", s, view{Title: "Calls", Nav: "calls", Error: err.Error(), Data: d})
		return nil
	}
	if err != nil {
		return err
	}
	d.Rows, d.Next = p.Transactions, p.Next
	var h health
	if c.call(r, s, http.MethodGet, "/api/health", nil, &h) == nil {
		for _, rt := range h.Routes {
			d.Routes = append(d.Routes, rt.Route)
		}
	}
	c.render(w, r, http.StatusOK, "calls", s, view{Title: "Calls", Nav: "calls", Data: d})
	return nil
}

// rows is the Calls table's body alone, which the page polls to show new calls.
func (c *Console) rows(w http.ResponseWriter, r *http.Request, s *session) error {
	q, d := c.callsQuery(r)
	var p txPage
	if err := c.call(r, s, http.MethodGet, "/api/transactions?"+q.Encode(), nil, &p); err != nil {
		return err
	}
	d.Rows = p.Transactions
	c.render(w, r, http.StatusOK, "rows", s, view{Data: d})
	return nil
}

type callData struct {
	Tx       txn.Transaction
	Findings []findingView
	Chain    []txn.Transaction // replay_of ancestors, oldest first
	Replays  []txn.Transaction
	Replayed string // the id of a replay just made
}

type findingView struct {
	txn.Finding
	Title  string
	Action string
	Docs   string // the finding's entry in the manual
}

func (c *Console) loadCall(r *http.Request, s *session, id string) (callData, error) {
	var d callData
	if err := c.call(r, s, http.MethodGet, "/api/transactions/"+url.PathEscape(id), nil, &d.Tx); err != nil {
		return d, err
	}
	for _, f := range d.Tx.Findings {
		spec, _ := txn.Lookup(f.Code)
		d.Findings = append(d.Findings, findingView{Finding: f, Title: spec.Title, Action: spec.Action, Docs: txn.FindingsDocs + "#" + spec.Anchor()})
	}
	// The chain is short (a replay of a replay...), each link one indexed Get.
	for parent, n := d.Tx.ReplayOf, 0; parent != "" && n < 20; n++ {
		var p txn.Transaction
		if c.call(r, s, http.MethodGet, "/api/transactions/"+url.PathEscape(parent), nil, &p) != nil {
			break
		}
		d.Chain = append([]txn.Transaction{p}, d.Chain...)
		parent = p.ReplayOf
	}
	for _, id := range d.Tx.ReplayedBy {
		var re txn.Transaction
		if c.call(r, s, http.MethodGet, "/api/transactions/"+url.PathEscape(id), nil, &re) == nil {
			d.Replays = append(d.Replays, re)
		}
	}
	return d, nil
}

func (c *Console) callPage(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.loadCall(r, s, r.PathValue("id"))
	if err != nil {
		return err
	}
	d.Replayed = r.URL.Query().Get("replayed")
	v := view{Title: "Call " + d.Tx.ID, Nav: "calls", Data: d}
	if d.Replayed != "" {
		v.Notice = "Resent as call " + d.Replayed + "."
	}
	c.render(w, r, http.StatusOK, "call", s, v)
	return nil
}

// export hands the call as HAR or curl from the API, as a download.
func (c *Console) export(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	format := r.URL.Query().Get("format")
	name, ctype := "mtguard-"+id+".har", "application/json"
	if format == "curl" {
		name, ctype = "mtguard-"+id+".sh", "text/plain; charset=utf-8"
	} else {
		format = "har"
	}
	var b []byte
	if err := c.call(r, s, http.MethodGet, "/api/transactions/"+url.PathEscape(id)+"?format="+format, nil, &b); err != nil {
		return err
	}
	w.Header().Set("Content-Type", ctype)
	if format == "har" { // the curl command opens as text, to copy
		w.Header().Set("Content-Disposition", `attachment; filename="`+strings.Map(safeFileRune, name)+`"`)
	}
	w.Write(b)
	return nil
}

func safeFileRune(r rune) rune {
	if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
		return r
	}
	return '_'
}

type replayResult struct {
	Item struct {
		Replay  string `json:"replay"`
		Outcome string `json:"outcome"`
		Skipped string `json:"skipped"`
	} `json:"item"`
}

// replay resends the call through POST /api/transactions/{id}/replay with the session's token.
func (c *Console) replay(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	var res replayResult
	err := c.call(r, s, http.MethodPost, "/api/transactions/"+url.PathEscape(id)+"/replay", map[string]bool{"force": r.PostFormValue("force") == "1"}, &res)
	if err != nil {
		return err
	}
	if res.Item.Replay == "" {
		d, err := c.loadCall(r, s, id)
		if err != nil {
			return err
		}
		c.render(w, r, http.StatusConflict, "call", s, view{Title: "Call " + id, Nav: "calls", Error: "Nothing was resent: " + res.Item.Skipped + ".", Data: d})
		return nil
	}
	http.Redirect(w, r, "/calls/"+url.PathEscape(res.Item.Replay)+"?replayed="+url.QueryEscape(res.Item.Replay), http.StatusSeeOther)
	return nil
}

type editData struct {
	Tx       txn.Transaction
	Original string
	Edited   string
	Diff     []diffLine
	Changed  bool
}

func (c *Console) editPage(w http.ResponseWriter, r *http.Request, s *session) error {
	var tx txn.Transaction
	if err := c.call(r, s, http.MethodGet, "/api/transactions/"+url.PathEscape(r.PathValue("id")), nil, &tx); err != nil {
		return err
	}
	orig := prettyBody(tx.Request.Body)
	c.render(w, r, http.StatusOK, "edit", s, view{Title: "Edit and replay " + tx.ID, Nav: "calls", Data: editData{Tx: tx, Original: orig, Edited: orig}})
	return nil
}

// edit shows the diff of an edited body (action=preview) or sends it through POST
// /api/transactions/{id}/replay-edit (action=send).
func (c *Console) edit(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	var tx txn.Transaction
	if err := c.call(r, s, http.MethodGet, "/api/transactions/"+url.PathEscape(id), nil, &tx); err != nil {
		return err
	}
	edited := strings.ReplaceAll(r.PostFormValue("body"), "\r\n", "\n")
	d := editData{Tx: tx, Original: prettyBody(tx.Request.Body), Edited: edited}
	d.Diff = diffLines(d.Original, prettyBody(edited))
	d.Changed = slices.ContainsFunc(d.Diff, func(l diffLine) bool { return l.Op != ' ' })
	if r.PostFormValue("action") != "send" {
		c.render(w, r, http.StatusOK, "edit", s, view{Title: "Edit and replay " + id, Nav: "calls", Data: d})
		return nil
	}
	var res replayResult
	err := c.call(r, s, http.MethodPost, "/api/transactions/"+url.PathEscape(id)+"/replay-edit", map[string]string{"body": edited}, &res)
	if isStatus(err, http.StatusBadRequest) {
		c.render(w, r, http.StatusBadRequest, "edit", s, view{Title: "Edit and replay " + id, Nav: "calls", Error: err.Error(), Data: d})
		return nil
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/calls/"+url.PathEscape(res.Item.Replay)+"?replayed="+url.QueryEscape(res.Item.Replay), http.StatusSeeOther)
	return nil
}

type leadData struct {
	Record string
	Calls  []txn.Transaction
	Routes []leadRoute
	More   bool
	// Journeys are the record's configured journeys (GET /api/journeys/{key}), step by step.
	Journeys []journeyView
}

// leadRoute is where a record got on one route: its last call there.
type leadRoute struct {
	Route string
	Calls int
	Last  txn.Transaction
}

// leadLimit bounds the lead timeline to one API page.
const leadLimit = 500

func (c *Console) lead(w http.ResponseWriter, r *http.Request, s *session) error {
	d := leadData{Record: strings.TrimSpace(r.URL.Query().Get("record"))}
	if d.Record == "" {
		c.render(w, r, http.StatusOK, "lead", s, view{Title: "Lead", Nav: "lead", Data: d})
		return nil
	}
	q := url.Values{"record": {d.Record}, "order": {"asc"}, "limit": {strconv.Itoa(leadLimit)}}
	var p txPage
	if err := c.call(r, s, http.MethodGet, "/api/transactions?"+q.Encode(), nil, &p); err != nil {
		return err
	}
	d.Calls, d.More = p.Transactions, p.Next != ""
	d.Journeys = c.journeysOf(r, s, d.Record)
	by := map[string]*leadRoute{}
	for _, tx := range d.Calls {
		lr := by[tx.Route]
		if lr == nil {
			lr = &leadRoute{Route: tx.Route}
			by[tx.Route] = lr
		}
		lr.Calls++
		lr.Last = tx
	}
	for _, lr := range by {
		d.Routes = append(d.Routes, *lr)
	}
	sort.Slice(d.Routes, func(i, j int) bool { return d.Routes[i].Route < d.Routes[j].Route })
	c.render(w, r, http.StatusOK, "lead", s, view{Title: "Lead " + d.Record, Nav: "lead", Data: d})
	return nil
}

type health struct {
	Routes []struct {
		Route        string    `json:"route"`
		Owner        string    `json:"owner"`
		State        string    `json:"state"`
		Calls        int       `json:"calls_1h"`
		Delivered    int       `json:"delivered_1h"`
		ErrorRate    float64   `json:"error_rate_1h"`
		P95MS        float64   `json:"p95_ms"`
		LastDelivery time.Time `json:"last_delivery"`
		LastCall     time.Time `json:"last_call"`
		Firing       []string  `json:"alerts_firing"`
	} `json:"routes"`
	Deliveries []queueHealth `json:"deliveries"`
}

type limitsReport struct {
	Groups []struct {
		Group   string   `json:"group"`
		Routes  []string `json:"routes"`
		Windows []struct {
			Requests int    `json:"requests"`
			Per      string `json:"per"`
			Used     int    `json:"used"`
		} `json:"windows"`
		Queued      int       `json:"queued"`
		Saturation  float64   `json:"saturation"`
		PausedUntil time.Time `json:"paused_until"`
		PauseReason string    `json:"pause_reason"`
		Paced       bool      `json:"paced"`
		Throttled   int64     `json:"throttled"`
	} `json:"groups"`
}

type routeCard struct {
	Route, Owner, State    string
	Calls, Delivered       int
	ErrorRate, P95MS       float64
	LastDelivery, LastCall time.Time
	Firing                 []string
	Limits                 []string
	Queued                 int
	PausedUntil            time.Time
	PauseReason            string
	Queue                  *queueHealth
	Drills                 []drillView
}

// chart draws a route's two charts as one SVG image: the Routes page shows it with an img
// element, so the page itself is ready before each route's day of calls is read, and the
// browser loads the charts side by side.
func (c *Console) chart(w http.ResponseWriter, r *http.Request, s *session) error {
	q := url.Values{"route": {r.PathValue("route")}, "since": {"24h"}, "limit": {strconv.Itoa(chartCalls)}}
	var p txPage
	if err := c.call(r, s, http.MethodGet, "/api/transactions?"+q.Encode(), nil, &p); err != nil {
		return err
	}
	errs, lat := hourlyCharts(p.Transactions, c.now())
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Write(chartSVG(errs, lat, len(p.Transactions), p.Next != ""))
	return nil
}

// chartCalls is how many of a route's latest calls of the last 24 hours the charts read: one
// API page, so a route card costs one indexed query however large the store.
const chartCalls = 1000

func (c *Console) routesPage(w http.ResponseWriter, r *http.Request, s *session) error {
	var h health
	if err := c.call(r, s, http.MethodGet, "/api/health", nil, &h); err != nil {
		return err
	}
	var lim limitsReport
	c.call(r, s, http.MethodGet, "/api/limits", nil, &lim) // no limits configured: no limits shown
	drills := c.runningDrills(r, s)
	now := c.now()
	var cards []routeCard
	for _, rh := range h.Routes {
		card := routeCard{Route: rh.Route, Owner: rh.Owner, State: rh.State, Calls: rh.Calls, Delivered: rh.Delivered, ErrorRate: rh.ErrorRate, P95MS: rh.P95MS, LastDelivery: rh.LastDelivery, LastCall: rh.LastCall, Firing: rh.Firing}
		for _, g := range lim.Groups {
			if !slices.Contains(g.Routes, rh.Route) {
				continue
			}
			for _, win := range g.Windows {
				card.Limits = append(card.Limits, g.Group+": "+strconv.Itoa(win.Used)+" of "+strconv.Itoa(win.Requests)+" per "+win.Per)
			}
			card.Queued += g.Queued
			if g.PausedUntil.After(now) {
				card.State, card.PausedUntil, card.PauseReason = "paused", g.PausedUntil, g.PauseReason
			}
		}
		for i := range h.Deliveries {
			if h.Deliveries[i].Route == rh.Route {
				card.Queue = &h.Deliveries[i]
			}
		}
		for _, d := range drills {
			if d.Route == rh.Route {
				card.Drills = append(card.Drills, d)
			}
		}
		cards = append(cards, card)
	}
	c.render(w, r, http.StatusOK, "routes", s, view{Title: "Routes", Nav: "routes", Data: cards})
	return nil
}

type alertView struct {
	ID, Route, Owner, Kind, Severity, State, Summary, Command string
	Since, FiredAt, ResolvedAt, AckedAt                       time.Time
	Calls, Records                                            int
	AckedBy, AckComment                                       string
	SilencedUntil                                             time.Time
}

func (a *alertView) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID            string    `json:"id"`
		Route         string    `json:"route"`
		Owner         string    `json:"owner"`
		Kind          string    `json:"kind"`
		Severity      string    `json:"severity"`
		State         string    `json:"state"`
		Summary       string    `json:"summary"`
		Command       string    `json:"command"`
		Since         time.Time `json:"since"`
		FiredAt       time.Time `json:"fired_at"`
		ResolvedAt    time.Time `json:"resolved_at"`
		AckedAt       time.Time `json:"acked_at"`
		AckedBy       string    `json:"acked_by"`
		AckComment    string    `json:"ack_comment"`
		SilencedUntil time.Time `json:"silenced_until"`
		Calls         int       `json:"calls"`
		Records       int       `json:"records"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*a = alertView{ID: raw.ID, Route: raw.Route, Owner: raw.Owner, Kind: raw.Kind, Severity: raw.Severity, State: raw.State, Summary: raw.Summary, Command: raw.Command,
		Since: raw.Since, FiredAt: raw.FiredAt, ResolvedAt: raw.ResolvedAt, AckedAt: raw.AckedAt, AckedBy: raw.AckedBy, AckComment: raw.AckComment, SilencedUntil: raw.SilencedUntil, Calls: raw.Calls, Records: raw.Records}
	return nil
}

type alertsData struct {
	Firing  []alertView
	History []alertView
}

func (c *Console) alerts(w http.ResponseWriter, r *http.Request, s *session) error {
	var firing, all struct {
		Alerts []alertView `json:"alerts"`
	}
	if err := c.call(r, s, http.MethodGet, "/api/alerts?state=firing&limit=100", nil, &firing); err != nil {
		return err
	}
	if err := c.call(r, s, http.MethodGet, "/api/alerts?state=resolved&limit=50", nil, &all); err != nil {
		return err
	}
	v := view{Title: "Alerts", Nav: "alerts", Data: alertsData{Firing: firing.Alerts, History: all.Alerts}}
	if r.URL.Query().Get("acked") != "" {
		v.Notice = "Acknowledged."
	}
	c.render(w, r, http.StatusOK, "alerts", s, v)
	return nil
}

// ack acknowledges an alert through POST /api/alerts/{id}/ack.
func (c *Console) ack(w http.ResponseWriter, r *http.Request, s *session) error {
	body := map[string]string{"by": s.name, "comment": r.PostFormValue("comment"), "silence": r.PostFormValue("silence")}
	if err := c.call(r, s, http.MethodPost, "/api/alerts/"+url.PathEscape(r.PathValue("id"))+"/ack", body, nil); err != nil {
		return err
	}
	http.Redirect(w, r, "/alerts?acked=1", http.StatusSeeOther)
	return nil
}

type forgetResult struct {
	Deleted  int `json:"deleted"`
	Scrubbed int `json:"scrubbed"`
}

// forget erases a record through DELETE /api/records/{key} (admin role), once the record has
// been typed again to confirm.
func (c *Console) forget(w http.ResponseWriter, r *http.Request, s *session) error {
	record := strings.TrimSpace(r.PostFormValue("record"))
	if record == "" || !strings.EqualFold(record, strings.TrimSpace(r.PostFormValue("confirm"))) {
		c.render(w, r, http.StatusBadRequest, "lead", s, view{Title: "Lead " + record, Nav: "lead", Error: "Nothing was erased: type the record again, exactly, to confirm.", Data: leadData{Record: record}})
		return nil
	}
	var res forgetResult
	if err := c.call(r, s, http.MethodDelete, "/api/records/"+url.PathEscape(record), nil, &res); err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "lead", s, view{Title: "Lead " + record, Nav: "lead", Data: leadData{Record: record},
		Notice: "Erased " + record + ": " + strconv.Itoa(res.Deleted) + " calls deleted, " + strconv.Itoa(res.Scrubbed) + " kept with its values replaced (they carried other records too)."})
	return nil
}
