package console

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/txn"
)

// reportLimit is how many calls of one finding code a report reads: one API page each, so a
// report costs a few indexed queries however large the store; when a code has more calls in
// the period the page says the counts are of the latest ones.
const reportLimit = 1000

// findingCalls reads the latest calls with finding code in the period.
func (c *Console) findingCalls(r *http.Request, s *session, code, since string) ([]txn.Transaction, bool, error) {
	q := url.Values{"finding": {code}, "since": {since}, "limit": {strconv.Itoa(reportLimit)}}
	var p txPage
	if err := c.call(r, s, http.MethodGet, "/api/transactions?"+q.Encode(), nil, &p); err != nil {
		return nil, false, err
	}
	return p.Transactions, p.Next != "", nil
}

// period reads the period filter of a report: one of a few durations.
func period(r *http.Request) string {
	switch p := r.URL.Query().Get("since"); p {
	case "24h", "168h", "720h":
		return p
	}
	return "168h"
}

type sunset struct {
	Code, Route, Operation, Replacement, Message string
	Date                                         *time.Time
	DaysLeft                                     int
	Calls                                        int
	Last                                         time.Time
	Example                                      string
}

type reportData struct {
	Since   string
	Partial bool
	Rows    any
	// Declared are the sunsets the routes' version rules date, seen in traffic or not
	// (Sunsets page only).
	Declared []declaredSunset
}

// declaredSunset is a dated version entry of a route, with its days left.
type declaredSunset struct {
	inspect.DeclaredSunset
	DaysLeft int
}

func (c *Console) sunsets(w http.ResponseWriter, r *http.Request, s *session) error {
	since := period(r)
	d := reportData{Since: since}
	by := map[string]*sunset{}
	now := c.now()
	for _, code := range []string{txn.CodeEndpointRetired, txn.CodeEndpointDeprecated, txn.CodeDeprecationAnnounced} {
		txs, more, err := c.findingCalls(r, s, code, since)
		if err != nil {
			return err
		}
		d.Partial = d.Partial || more
		for _, tx := range txs {
			for _, f := range tx.Findings {
				if f.Code != code {
					continue
				}
				key := code + "\x00" + tx.Route + "\x00" + tx.Method + " " + tx.Path
				su := by[key]
				if su == nil {
					su = &sunset{Code: code, Route: tx.Route, Operation: tx.Method + " " + tx.Path, Replacement: f.Replacement, Message: f.Message, Example: tx.ID, Last: tx.Time}
					if f.Sunset != nil {
						su.Date = f.Sunset
						su.DaysLeft = int(f.Sunset.Sub(now).Hours() / 24)
					}
					by[key] = su
				}
				su.Calls++
			}
		}
	}
	rows := make([]sunset, 0, len(by))
	for _, su := range by {
		rows = append(rows, *su)
	}
	// Soonest first; endpoints without a date last.
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if (a.Date == nil) != (b.Date == nil) {
			return a.Date != nil
		}
		if a.Date != nil && !a.Date.Equal(*b.Date) {
			return a.Date.Before(*b.Date)
		}
		return a.Route+a.Operation < b.Route+b.Operation
	})
	d.Rows = rows
	var declared inspect.SunsetsAnswer
	switch err := c.call(r, s, http.MethodGet, "/api/sunsets", nil, &declared); {
	case isStatus(err, http.StatusNotFound): // an API without the list: only what traffic showed
	case err != nil:
		return err
	}
	for _, ds := range declared.Declared {
		row := declaredSunset{DeclaredSunset: ds}
		if ds.Sunset != nil {
			row.DaysLeft = int(ds.Sunset.Sub(now).Hours() / 24)
		}
		d.Declared = append(d.Declared, row)
	}
	// Soonest sunset first; entries with only a deprecation date after.
	sort.SliceStable(d.Declared, func(i, j int) bool {
		a, b := d.Declared[i].Sunset, d.Declared[j].Sunset
		if (a == nil) != (b == nil) {
			return a != nil
		}
		return a != nil && a.Before(*b)
	})
	c.render(w, r, http.StatusOK, "sunsets", s, view{Title: "Sunsets", Nav: "sunsets", Data: d})
	return nil
}

type violation struct {
	Route, Operation, Code, Pointer, Message string
	Calls                                    int
	Example                                  string
	Last                                     time.Time
}

func (c *Console) contracts(w http.ResponseWriter, r *http.Request, s *session) error {
	since := period(r)
	d := reportData{Since: since}
	by := map[string]*violation{}
	for _, code := range []string{txn.CodeSchemaRequestInvalid, txn.CodeSchemaRequestMalformed, txn.CodeSchemaResponseInvalid} {
		txs, more, err := c.findingCalls(r, s, code, since)
		if err != nil {
			return err
		}
		d.Partial = d.Partial || more
		for _, tx := range txs {
			seen := map[string]bool{}
			for _, f := range tx.Findings {
				if f.Code != code {
					continue
				}
				key := tx.Route + "\x00" + tx.Method + " " + tx.Path + "\x00" + code + "\x00" + f.Detail
				if seen[key] {
					continue
				}
				seen[key] = true
				v := by[key]
				if v == nil {
					// Newest first: the first call seen is the latest example.
					v = &violation{Route: tx.Route, Operation: tx.Method + " " + tx.Path, Code: code, Pointer: f.Detail, Message: f.Message, Example: tx.ID, Last: tx.Time}
					by[key] = v
				}
				v.Calls++
			}
		}
	}
	rows := make([]violation, 0, len(by))
	for _, v := range by {
		rows = append(rows, *v)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		if a.Calls != b.Calls {
			return a.Calls > b.Calls
		}
		return a.Operation+a.Pointer < b.Operation+b.Pointer
	})
	d.Rows = rows
	c.render(w, r, http.StatusOK, "contracts", s, view{Title: "Contracts", Nav: "contracts", Data: d})
	return nil
}
