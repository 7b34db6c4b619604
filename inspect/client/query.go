package client

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// Query is a GET /api/transactions as the client sends it: store.Query's filters without the
// store (inspect.Client.List converts one into the other). Zero fields are not sent.
type Query struct {
	RecordKey   string      // a record key, e.g. an email (the server normalises it)
	Route       string      // route name
	Outcome     txn.Outcome // one outcome
	Finding     string      // calls carrying a finding with this code
	Caller      string      // the name of the caller the call authenticated as
	Status      int         // the HTTP status mtguard answered with
	StatusClass int         // 1 to 5: every status of that hundred (4 is 400 to 499)
	Since       time.Time   // inclusive
	Until       time.Time   // exclusive
	Limit       int         // the page size; zero leaves it to the server (50)
	Cursor      string      // continues a previous List from Page.Next
	Ascending   bool        // oldest first; the default is newest first
}

// Page is one page of a List's results, as the API answers it (store.Page on the server).
type Page struct {
	Transactions []txn.Transaction `json:"transactions"`
	// Next is the cursor of the following page, empty on the last page.
	Next string `json:"next,omitempty"`
}

// Values writes q as the query parameters GET /api/transactions reads (inspect's decodeQuery).
func (q Query) Values() url.Values {
	v := url.Values{}
	set := func(name, value string) {
		if value != "" {
			v.Set(name, value)
		}
	}
	set("record", q.RecordKey)
	set("route", q.Route)
	set("outcome", string(q.Outcome))
	set("finding", q.Finding)
	set("caller", q.Caller)
	if q.Status != 0 {
		v.Set("status", strconv.Itoa(q.Status))
	}
	if q.StatusClass != 0 {
		v.Set("status", strconv.Itoa(q.StatusClass)+"xx")
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set("cursor", q.Cursor)
	if q.Ascending {
		v.Set("order", "asc")
	}
	return v
}

// ParseStatusFilter reads a status filter: an HTTP status code from 100 to 599 ("502"), or a
// class of them ("4xx" or "4XX", 1xx to 5xx). Exactly one of code and class is set when ok.
// The server reads the status parameter with it, and the CLI checks --status before asking.
func ParseStatusFilter(s string) (code, class int, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) == 3 && strings.EqualFold(s[1:], "xx") && s[0] >= '1' && s[0] <= '5' {
		return 0, int(s[0] - '0'), true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return 0, 0, false
	}
	return n, 0, true
}
