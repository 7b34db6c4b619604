package vendors

import (
	"encoding/json"
	"fmt"
	"net/http"
	pathpkg "path"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Idempotency says whether a vendor operation may be sent twice without a second effect.
const (
	// IdempotentYes: a resend has no second effect (an upsert keyed by email or external id).
	IdempotentYes = "yes"
	// IdempotentKey: a resend has no second effect when the body carries the dedup key (Key)
	// and every attempt reuses it (Segment messageId, Klaviyo unique_id).
	IdempotentKey = "key"
	// IdempotentNo: a resend can create a duplicate (a create).
	IdempotentNo = "no"
)

// DeliveryOp is what a preset documents about redelivering one operation: whether a resend is
// safe after an ambiguous failure (a timeout), and whether the tool needs the vendor's answer
// (a create that returns the new record's id), which store-and-forward delivery cannot give.
type DeliveryOp struct {
	Method string // "" for any
	// Path is a vendor path; a trailing "*" matches any rest.
	Path       string
	Idempotent string // IdempotentYes, IdempotentKey or IdempotentNo
	// Key is the body field that carries the dedup key, for IdempotentKey; a "[]." path
	// ("batch[].messageId") requires it in every item.
	Key string
	// AnswerNeeded says the answer carries data the tool needs.
	AnswerNeeded bool
	Doc          string
	Line         int
}

var deliveryOpKeys = []string{"method", "path", "idempotent", "key", "answer_needed", "doc"}

// deliveryOps reads a preset's delivery: list.
func (r *yreader) deliveryOps(n *yaml.Node, key string) []DeliveryOp {
	var out []DeliveryOp
	for i, item := range r.Seq(n, key) {
		ik := fmt.Sprintf("%s[%d]", key, i)
		m, ok := r.Mapping(item, ik, deliveryOpKeys...)
		if !ok {
			continue
		}
		op := DeliveryOp{Line: item.Line}
		op.Method, _ = r.Str(m.Get("method"), ik+".method")
		op.Method = strings.ToUpper(op.Method)
		if s, ok := r.Str(m.Get("path"), ik+".path"); ok && strings.HasPrefix(s, "/") {
			op.Path = s
		} else {
			r.AddfAt(item, ik+".path", "path is required and starts with /")
		}
		if s, ok := r.OneOf(m.Get("idempotent"), ik+".idempotent", IdempotentYes, IdempotentKey, IdempotentNo); ok {
			op.Idempotent = s
		} else {
			op.Idempotent = IdempotentNo
		}
		op.Key, _ = r.Str(m.Get("key"), ik+".key")
		if op.Idempotent == IdempotentKey && op.Key == "" {
			r.AddfAt(item, ik+".key", "idempotent: key needs the body field that carries the key")
		}
		op.AnswerNeeded, _ = r.Bool(m.Get("answer_needed"), ik+".answer_needed")
		op.Doc, _ = r.Str(m.Get("doc"), ik+".doc")
		out = append(out, op)
	}
	return out
}

// Matches reports whether the operation covers a call of method to the vendor path.
func (op DeliveryOp) Matches(method, path string) bool {
	if op.Method != "" && !strings.EqualFold(op.Method, method) {
		return false
	}
	if rest, ok := strings.CutSuffix(op.Path, "*"); ok && !strings.Contains(rest, "*") {
		return strings.HasPrefix(path, rest)
	}
	ok, _ := pathpkg.Match(op.Path, path) // a "*" inside the path stands for one segment
	return ok
}

// DeliveryOpFor returns the first of ops that covers method and path.
func DeliveryOpFor(ops []DeliveryOp, method, path string) (DeliveryOp, bool) {
	for _, op := range ops {
		if op.Matches(method, path) {
			return op, true
		}
	}
	return DeliveryOp{}, false
}

// SafeToResend reports whether a call of op with this JSON body may be sent again after an
// ambiguous failure, and why (for the person reading the delivery queue).
func (op DeliveryOp) SafeToResend(body []byte) (bool, string) {
	switch op.Idempotent {
	case IdempotentYes:
		return true, fmt.Sprintf("%s %s is idempotent (preset)", op.methodName(), op.Path)
	case IdempotentKey:
		if hasKey(body, op.Key) {
			return true, fmt.Sprintf("the body carries %s, which the vendor deduplicates on", op.Key)
		}
		return false, fmt.Sprintf("the body carries no %s, the key the vendor deduplicates on", op.Key)
	}
	return false, fmt.Sprintf("%s %s is not idempotent: a resend can create a duplicate", op.methodName(), op.Path)
}

func (op DeliveryOp) methodName() string {
	if op.Method == "" {
		return http.MethodPost
	}
	return op.Method
}

// hasKey reports whether the JSON body has a non-empty value at key: "messageId", or
// "batch[].messageId" for every item of a list.
func hasKey(body []byte, key string) bool {
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return false
	}
	return keyIn(doc, strings.Split(key, "."))
}

func keyIn(v any, parts []string) bool {
	if len(parts) == 0 {
		switch x := v.(type) {
		case nil:
			return false
		case string:
			return x != ""
		}
		return true
	}
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	name, each := strings.CutSuffix(parts[0], "[]")
	if !each {
		return keyIn(m[name], parts[1:])
	}
	items, ok := m[name].([]any)
	if !ok || len(items) == 0 {
		return false
	}
	for _, it := range items {
		if !keyIn(it, parts[1:]) {
			return false
		}
	}
	return true
}
