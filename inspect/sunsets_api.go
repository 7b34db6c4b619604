package inspect

import (
	"net/http"
	"time"
)

// DeclaredSunset is one dated entry of a route's version rules (from its preset or its own
// versions:): versions the vendor has deprecated or will retire, whether or not any call has
// used them yet.
type DeclaredSunset struct {
	Route string `json:"route"`
	// Rule is the version rule's name; Where says where the version is read (a path pattern
	// with {version}, or "header NAME").
	Rule  string `json:"rule"`
	Where string `json:"where"`
	// Versions are as the rule writes them: "59.0", "31.0..40.0", "..30.0".
	Versions    []string   `json:"versions"`
	Deprecated  *time.Time `json:"deprecated,omitempty"`
	Sunset      *time.Time `json:"sunset,omitempty"`
	Replacement string     `json:"replacement,omitempty"`
	Doc         string     `json:"doc,omitempty"`
}

// SunsetsAnswer answers GET /api/sunsets.
type SunsetsAnswer struct {
	Declared []DeclaredSunset `json:"declared"`
}

func (s *server) listSunsets(w http.ResponseWriter, r *http.Request) {
	out := SunsetsAnswer{Declared: s.sunsets()}
	if out.Declared == nil {
		out.Declared = []DeclaredSunset{}
	}
	s.respond(w, http.StatusOK, out)
}
