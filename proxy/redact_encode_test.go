package proxy

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/mtguard/mtguard/schemas"
)

// TestAppendJSONTreeMatchesMarshal checks that the redacted body is written byte for byte as
// json.Marshal wrote it before: bodies as ParseBody decodes them, with the characters
// encoding/json escapes.
func TestAppendJSONTreeMatchesMarshal(t *testing.T) {
	bodies := []string{
		`{}`, `[]`, `null`, `true`, `"x"`, `0`, `-1.5e-7`, `12345678901234567890123`,
		`{"b":1,"a":[1,2,{"z":null,"y":false}],"c":"<tag> & \"q\" \\ \u2028 \u2029 é 日本"}`,
		`{"ctl":"\u0000\u0001\b\f\n\r\t\u001f\u007f","bad":"` + "\xff\xfe" + `","nested":{"":{"":[]}}}`,
		`{"email":"a@example.com","properties":{"password":"hunter2hunter2","n":1.0,"m":-0,"e":1E+2}}`,
		`[{"k":"v"},[],[[]],{}]`,
	}
	for _, raw := range bodies {
		parsed := schemas.ParseBody("application/json", []byte(raw))
		if parsed.Err != nil {
			t.Fatalf("%s: %v", raw, parsed.Err)
		}
		want, err := json.Marshal(parsed.JSON)
		if err != nil {
			t.Fatal(err)
		}
		got, err := marshalTree(parsed.JSON)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s (%v)\nwant %s", raw, got, err, want)
		}
	}
	// Values a decoded tree does not hold fall back to json.Marshal.
	for _, v := range []any{map[string]any{"n": 3}, []any{json.Number("")}, map[string]any{"f": 1.5}} {
		want, _ := json.Marshal(v)
		if got, err := marshalTree(v); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%#v: got %s (%v), want %s", v, got, err, want)
		}
	}
}
