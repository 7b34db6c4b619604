package vendors

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
)

// recordsSpec is a rule's "records": how to read the fate of each record of a batch call from
// the vendor's answer, so that a replay can resend only the failed ones.
type recordsSpec struct {
	// each walks the answer's per-record elements: every record (when failed is set) or only
	// the failed ones.
	each jpath
	// failed tells a failed element from a good one; nil means every element is a failure.
	failed *ruleCond
	// index is where an element says which input it is; nil means its position; indexKey
	// means the object key a "*" step walked (Pardot's error object keyed by input index).
	index    *jpath
	indexKey bool
	// key is where an element names its record ("." for an element that is the key itself).
	key *jpath
	// indexBy finds an element's input by a value both carry (HubSpot's objectWriteTraceId):
	// the element's value at byAnswer equals the request's at byRequest ("inputs[].x").
	byAnswer, byRequest *jpath
	// reason explains one failure, with paths relative to the element.
	reason *ruleTemplate
	// keys are request paths of the records' keys ("input[].email"); nil means the route's
	// record keys that walk an array.
	keys []jpath
}

// maxListedRecords bounds how many failed records a finding's message names.
const maxListedRecords = 3

// applyRecords reads the records of a matching rule. It reports false (the rule does not
// apply) when no record failed.
func (r *Rule) applyRecords(ctx *ruleCtx, v *schemas.ResponseVerdict) bool {
	rs := r.records
	ectx := *ctx
	ectx.inElem = true
	// Most batches are clean: count failures before building any result.
	if rs.failed != nil {
		someFailed := false
		rs.each.walk(ctx.resp.Doc().JSON, func(el any, key string) bool {
			ectx.elem, ectx.key = el, key
			someFailed = rs.failed.eval(&ectx)
			return !someFailed
		})
		if !someFailed {
			return false
		}
	}
	var results []txn.RecordResult
	failedN, pos := 0, 0
	rs.each.walk(ctx.resp.Doc().JSON, func(el any, key string) bool {
		ectx.elem, ectx.key = el, key
		failed := rs.failed == nil || rs.failed.eval(&ectx)
		res := txn.RecordResult{Index: pos, OK: !failed}
		if rs.failed == nil {
			// A list of failures only: its positions say nothing about the inputs.
			res.Index = -1
		}
		switch {
		case rs.byAnswer != nil:
			res.Index = indexBy(ctx, rs, el)
		case rs.indexKey:
			res.Index = atoiOr(key, -1)
		case rs.index != nil:
			res.Index = -1
			if x, ok := rs.index.first(el); ok {
				if f, ok := number(x); ok {
					res.Index = int(f)
				}
			}
		}
		if rs.key != nil {
			var kv any = el
			if rs.key.raw != "." {
				kv, _ = rs.key.first(el)
			}
			if s, ok := scalarText(kv); ok && kv != nil {
				res.Key = schemas.NormaliseKey(s)
			}
		}
		if failed {
			failedN++
			if rs.reason != nil {
				res.Reason = rs.reason.render(&ectx)
			}
		}
		results = append(results, res)
		pos++
		return true
	})
	if failedN == 0 {
		return false
	}
	reqKeys, total := requestRecordKeys(ctx, rs.keys)
	if rs.failed != nil && pos > total {
		total = pos
	}
	for i := range results {
		res := &results[i]
		if res.Key == "" && res.Index >= 0 && res.Index < len(reqKeys) && len(reqKeys[res.Index]) > 0 {
			res.Key = reqKeys[res.Index][0]
		}
		if res.Index < 0 && res.Key != "" {
			res.Index = slices.IndexFunc(reqKeys, func(ks []string) bool { return slices.Contains(ks, res.Key) })
		}
	}
	v.Records = results

	outcome, code := r.Outcome, r.Finding
	if outcome == "" {
		outcome = "partial"
		if total > 0 && failedN >= total {
			outcome = "failed"
		}
	}
	if code == "" {
		code = txn.CodePartialFailure
		if outcome == "failed" {
			code = txn.CodeSilentFailure
		}
	}
	msg := ""
	if r.message != nil {
		msg = r.message.render(ctx)
	} else {
		msg = recordsMessage(results, failedN, total)
	}
	rule := *r
	rule.Outcome, rule.Finding = outcome, code
	rule.apply(ctx, v, msg)
	return true
}

// recordsMessage says how many records failed and names the first few.
func recordsMessage(results []txn.RecordResult, failed, total int) string {
	var b strings.Builder
	switch {
	case total > 0 && failed >= total:
		fmt.Fprintf(&b, "all %d records failed", total)
	case total > 0:
		fmt.Fprintf(&b, "%d of %d records failed", failed, total)
	case failed == 1:
		b.WriteString("1 record failed")
	default:
		fmt.Fprintf(&b, "%d records failed", failed)
	}
	listed := 0
	for _, res := range results {
		if res.OK {
			continue
		}
		if listed == maxListedRecords {
			fmt.Fprintf(&b, "; and %d more", failed-listed)
			break
		}
		if listed == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		listed++
		if res.Index >= 0 {
			fmt.Fprintf(&b, "#%d", res.Index)
		} else {
			b.WriteString("#?")
		}
		if res.Key != "" {
			b.WriteString(" " + res.Key)
		}
		if res.Reason != "" {
			b.WriteString(" (" + res.Reason + ")")
		}
	}
	return b.String()
}

// requestRecordKeys returns the record keys of every input of a batch request, by index, and
// the number of inputs. The first key path whose array is in the request decides the array;
// every key path through that same array adds keys (users[].email, users[].userId).
func requestRecordKeys(ctx *ruleCtx, paths []jpath) ([][]string, int) {
	doc := ctx.req.Doc().JSON
	if doc == nil {
		return nil, 0
	}
	var keys [][]string
	var arrAt []jstep
	for _, p := range paths {
		arr, rest, ok := p.splitAtEach()
		if !ok || (keys != nil && !slices.Equal(arr.steps, arrAt)) {
			continue
		}
		av, found := arr.first(doc)
		a, isArr := av.([]any)
		if !found || !isArr {
			continue
		}
		if keys == nil {
			keys, arrAt = make([][]string, len(a)), arr.steps
		}
		for i, el := range a {
			kv, _ := rest.first(el)
			if s, ok := kv.(string); ok && strings.TrimSpace(s) != "" {
				keys[i] = append(keys[i], schemas.NormaliseKey(s))
			}
		}
	}
	return keys, len(keys)
}

// indexBy returns the index of the request input whose byRequest value equals the element's
// byAnswer value, or -1.
func indexBy(ctx *ruleCtx, rs *recordsSpec, el any) int {
	want, ok := rs.byAnswer.first(el)
	if !ok {
		return -1
	}
	wantText, ok := scalarText(want)
	if !ok {
		return -1
	}
	arr, rest, _ := rs.byRequest.splitAtEach()
	av, _ := arr.first(ctx.req.Doc().JSON)
	a, _ := av.([]any)
	for i, in := range a {
		if v, ok := rest.first(in); ok {
			if t, ok := scalarText(v); ok && t == wantText {
				return i
			}
		}
	}
	return -1
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}
