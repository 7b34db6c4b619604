package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// The errors the admin API makes itself. Each has one status in classify.
var (
	// errBadRequest is a query parameter that is unknown, malformed or out of range.
	errBadRequest = errors.New("bad request")
	// errNoToken is an /api/ request without a bearer token to a server that has one.
	errNoToken = errors.New("missing bearer token")
	// errBadToken is a bearer token that is not the server's.
	errBadToken = errors.New("wrong bearer token")
	// errNoRoute is a path the admin API does not serve.
	errNoRoute = errors.New("no such endpoint")
	// errMethod is a method other than GET or HEAD on an endpoint.
	errMethod = errors.New("method not allowed")
	// errNotReplayable is a call that cannot be resent as stored (the detail says why).
	errNotReplayable = errors.New("cannot replay")
	// errReplayBusy is a call whose replay chain another replay is resending right now.
	errReplayBusy = errors.New("being replayed")
	// errNotConfigured is an endpoint whose capability this server was started without.
	errNotConfigured = errors.New("not configured")
	// errForeignHost is a request whose Host is not this machine's, to a server without a
	// token: what a web page reaching it through DNS rebinding sends.
	errForeignHost = errors.New("host not allowed")
	// errForbidden is a valid token whose role may not use the endpoint.
	errForbidden = errors.New("role not allowed")
	// errCrossSite is a state-changing request a web page of another origin sent.
	errCrossSite = errors.New("cross-site request")
)

// detailError gives an error the sentence the API caller sees; its status still comes from
// the error it wraps.
type detailError struct {
	err    error
	detail string
}

func (e *detailError) Error() string { return e.detail + ": " + e.err.Error() }
func (e *detailError) Unwrap() error { return e.err }

// problemf gives kind the detail the caller sees. kind decides the status: one of the
// sentinels above, or an error from the store.
func problemf(kind error, format string, args ...any) error {
	return &detailError{err: kind, detail: fmt.Sprintf(format, args...)}
}

// statusClientClosed is logged when the caller went away before the answer (nginx's 499);
// nobody reads the response.
const statusClientClosed = 499

// classify is the one mapping from errors to what the caller sees: the status, and the detail
// unless the error carries its own. Unknown errors are 500s whose cause goes to the log only.
func classify(err error) (status int, detail string) {
	switch {
	case errors.Is(err, errBadRequest):
		status, detail = http.StatusBadRequest, "the request is malformed"
	case errors.Is(err, store.ErrBadCursor):
		status, detail = http.StatusBadRequest, "the cursor was not issued by this server: leave it out to start from the first page"
	case errors.Is(err, errNoToken), errors.Is(err, errBadToken):
		status, detail = http.StatusUnauthorized, "a valid bearer token is needed"
	case errors.Is(err, store.ErrNotFound):
		status, detail = http.StatusNotFound, "no such transaction"
	case errors.Is(err, alerts.ErrAlertNotFound):
		status, detail = http.StatusNotFound, "no such alert"
	case errors.Is(err, ErrDrillNotFound):
		status, detail = http.StatusNotFound, "no such drill"
	case errors.Is(err, errDrillRefused):
		status, detail = http.StatusConflict, "the drill cannot start"
	case errors.Is(err, alerts.ErrSinkNotFound):
		status, detail = http.StatusNotFound, "no such sink"
	case errors.Is(err, errNoRoute):
		status, detail = http.StatusNotFound, "no such endpoint"
	case errors.Is(err, errNotReplayable):
		status, detail = http.StatusConflict, "the call cannot be resent as stored"
	case errors.Is(err, errReplayBusy):
		status, detail = http.StatusConflict, "another replay is resending this call right now"
	case errors.Is(err, errNotConfigured):
		status, detail = http.StatusNotImplemented, "this mtguard was started without this capability"
	case errors.Is(err, errForeignHost):
		status, detail = http.StatusMisdirectedRequest, "this admin API has no token, so it answers only to localhost and loopback addresses"
	case errors.Is(err, errForbidden):
		status, detail = http.StatusForbidden, "this token's role may not do this"
	case errors.Is(err, errCrossSite):
		status, detail = http.StatusForbidden, "a web page of another site may not change anything here"
	case errors.Is(err, errMethod):
		status, detail = http.StatusMethodNotAllowed, "this endpoint does not take that method"
	case errors.Is(err, context.Canceled):
		status, detail = statusClientClosed, "the client went away"
	case errors.Is(err, context.DeadlineExceeded):
		status, detail = http.StatusServiceUnavailable, "the transaction log took too long to answer"
	case errors.Is(err, store.ErrClosed):
		status, detail = http.StatusServiceUnavailable, "the transaction log is closed: mtguard is shutting down"
	case errors.Is(err, store.ErrUnknownFormat):
		status, detail = http.StatusInternalServerError, "the store file was written by another mtguard version"
	default:
		status, detail = http.StatusInternalServerError, "the transaction log could not be read; the mtguard server log has the cause"
	}
	if de := (*detailError)(nil); errors.As(err, &de) {
		detail = de.detail
	}
	return status, detail
}

// fail answers err as a problem and logs it in one line.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := classify(err)
	if status == http.StatusUnauthorized {
		// RFC 6750, section 3: say which scheme, and whether the token given was wrong.
		challenge := `Bearer realm="mtguard"`
		if errors.Is(err, errBadToken) {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}

	level := zerolog.WarnLevel
	switch {
	case status >= 500:
		level = zerolog.ErrorLevel
	case status == statusClientClosed:
		level = zerolog.InfoLevel
	}
	// The endpoint's pattern, not the path or query: both may hold a lead's email address
	// (DELETE /api/records/{key}, ?record=).
	endpoint := r.Pattern
	if endpoint == "" {
		endpoint = "(no endpoint)"
	}
	s.log.WithLevel(level).Str("method", r.Method).Str("endpoint", endpoint).
		Str("remote", r.RemoteAddr).Int("status", status).Err(err).Msg("admin API error")

	title := http.StatusText(status)
	if status == statusClientClosed {
		title = "Client Closed Request"
	}
	s.write(w, status, txn.ProblemContentType, txn.Problem{Type: "about:blank", Title: title, Status: status, Detail: detail})
}

// respond answers v as JSON.
func (s *server) respond(w http.ResponseWriter, status int, v any) {
	s.write(w, status, "application/json", v)
}

// write is the one place the admin API encodes a body.
func (s *server) write(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // bodies often hold HTML; keep them readable with curl
	if err := enc.Encode(v); err != nil {
		// The status line is gone already; all that is left is to say so in the log.
		s.log.Warn().Err(err).Msg("admin API: write response")
	}
}
