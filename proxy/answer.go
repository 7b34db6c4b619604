package proxy

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// answerWriter streams an answer to the tool with a write deadline per write rather than one
// for the whole answer: each write (and flush) must make progress within idle, however long
// the answer streams (SSE, a long download). A tool that stops reading is cut off after idle,
// and the first failed write is kept, so that the call is recorded as cut rather than whole.
//
// The server's own WriteTimeout still bounds the time until the first write: the wait for the
// vendor's budget and headers.
type answerWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration

	mu       sync.Mutex
	renewed  time.Time // when the deadline was last pushed ahead
	written  int64     // body bytes the tool's connection took
	err      error     // the first write that failed
	hijacked bool      // the connection is no longer the server's: leave its deadline alone
}

func newAnswerWriter(w http.ResponseWriter, idle time.Duration) *answerWriter {
	return &answerWriter{ResponseWriter: w, rc: http.NewResponseController(w), idle: idle}
}

// renew pushes the write deadline idle ahead. Unless forced, it does so at most every idle/4,
// which leaves every write at least three quarters of idle and keeps a busy stream from
// resetting a timer per write.
func (w *answerWriter) renew(force bool) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hijacked || (!force && now.Sub(w.renewed) < w.idle/4) {
		return
	}
	w.renewed = now
	w.rc.SetWriteDeadline(now.Add(w.idle)) // not supported (a test recorder): nothing to bound
}

func (w *answerWriter) note(n int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.written += int64(n)
	if err != nil && w.err == nil {
		w.err = err
	}
}

// failed returns the first write to the tool that failed, and how many bytes were written
// before; nil when every write went through, or when nobody streams the answer (a replay).
func (w *answerWriter) failed() (written int64, err error) {
	if w == nil {
		return 0, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written, w.err
}

func (w *answerWriter) WriteHeader(code int) {
	w.renew(false)
	w.ResponseWriter.WriteHeader(code)
}

func (w *answerWriter) Write(p []byte) (int, error) {
	w.renew(false)
	n, err := w.ResponseWriter.Write(p)
	w.note(n, err)
	return n, err
}

// FlushError and Flush serve both http.ResponseController and callers that assert
// http.Flusher (goproxy).
func (w *answerWriter) FlushError() error {
	w.renew(false)
	err := w.rc.Flush()
	w.note(0, err)
	return err
}

func (w *answerWriter) Flush() { w.FlushError() }

// Hijack hands the connection over (an upgrade); its deadlines are then the new owner's.
func (w *answerWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.mu.Lock()
	w.hijacked = true
	w.mu.Unlock()
	return w.rc.Hijack()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *answerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type answerKey struct{}

// withAnswer attaches the writer of the answer to ctx, for a front end that creates its Call
// later (the forward front, behind goproxy).
func withAnswer(ctx context.Context, w *answerWriter) context.Context {
	return context.WithValue(ctx, answerKey{}, w)
}

func answerFrom(ctx context.Context) *answerWriter {
	w, _ := ctx.Value(answerKey{}).(*answerWriter)
	return w
}
