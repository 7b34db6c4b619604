package logcmd

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// Column widths of the log table, in characters. Longer cells end in "…". The other tables
// of the CLI use the same route width and list length.
const (
	maxPathWidth  = 48
	MaxRouteWidth = 24
	// MaxListItems is how many record keys or finding codes a log line names before "+N".
	MaxListItems = 3
)

// WriteLog writes txs as a table for the terminal, one line per transaction, oldest first
// whatever the order of txs. Times are shown in loc; if loc is nil, time.Local is used.
func WriteLog(w io.Writer, txs []txn.Transaction, loc *time.Location) error {
	if len(txs) == 0 {
		_, err := io.WriteString(w, "no transactions match\n")
		return err
	}
	if loc == nil {
		loc = time.Local
	}
	// Ids are time-ordered strings, so sorting by id is sorting by time.
	txs = slices.Clone(txs)
	slices.SortStableFunc(txs, func(a, b txn.Transaction) int { return strings.Compare(a.ID, b.ID) })

	// tabwriter writes each cell and each run of padding separately: straight to a pipe, a
	// 50-line table was over a thousand write calls, 3 ms of a lookup.
	bw := bufio.NewWriter(w)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tID\tROUTE\tMETHOD\tPATH\tSTATUS\tOUTCOME\tMS\tRECORDS\tFINDINGS")
	for _, tx := range txs {
		codes := make([]string, len(tx.Findings))
		for i, f := range tx.Findings {
			codes[i] = f.Code
		}
		fmt.Fprintln(tw, strings.Join([]string{
			tx.Time.In(loc).Format("2006-01-02 15:04:05"),
			Cell(tx.ID, 0),
			OrDash(Cell(tx.Route, MaxRouteWidth)),
			Cell(tx.Method, 0),
			Cell(tx.Path, maxPathWidth),
			OrDash(status(tx.Status)),
			OrDash(Cell(string(tx.Outcome), 0)),
			OrDash(Millis(tx.DurationMS)),
			OrDash(Cell(JoinMax(tx.RecordKeys, MaxListItems), 0)),
			OrDash(Cell(JoinMax(codes, MaxListItems), 0)),
		}, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

// Millis rounds a duration in milliseconds to a whole number; zero means unknown.
func Millis(ms float64) string {
	if ms == 0 {
		return ""
	}
	return strconv.FormatFloat(math.Round(ms), 'f', 0, 64)
}

// status is a status code for the log table; zero (no answer) is empty.
func status(code int) string {
	if code == 0 {
		return ""
	}
	return strconv.Itoa(code)
}

// JoinMax joins up to max items with "," and counts the rest: "a,b,c +2".
func JoinMax(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, ",")
	}
	return strings.Join(items[:max], ",") + " +" + strconv.Itoa(len(items)-max)
}

// OrDash is s, or "-" for an empty table cell.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Cell makes s safe for one table cell: one line, no tabs, at most width characters
// (0 means no limit).
func Cell(s string, width int) string {
	s = txn.Clean(s, false)
	if width > 0 {
		s = txn.Truncate(s, width)
	}
	return s
}
