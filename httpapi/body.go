package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// StatusClientClosed is the status recorded (in the metrics and the log)
// for a request whose client hung up before the answer: nginx's 499. The
// client never sees it.
const StatusClientClosed = 499

// bodyError is a failure to read the request body itself: the client hung
// up (a body shorter than its Content-Length), or sent it too slowly (the
// body read deadline passed). It is the client's doing, never a server
// error: it classifies as 499 or 408.
type bodyError struct {
	err error
}

func (e *bodyError) Error() string {
	if e.timeout() {
		return "httpapi: the request body did not arrive in time: " + e.err.Error()
	}
	return "httpapi: the client hung up while sending the request body: " + e.err.Error()
}

func (e *bodyError) Unwrap() error { return e.err }

// timeout reports whether the body read deadline passed.
func (e *bodyError) timeout() bool { return errors.Is(e.err, os.ErrDeadlineExceeded) }

// bodyReader wraps a request body: read failures become *bodyError, and
// once the body is read (or closed) the read deadline set for it is
// lifted, so that a long answer (a backup, a stream) is not cut by it.
type bodyReader struct {
	rc     io.ReadCloser
	rctl   *http.ResponseController
	lifted bool
}

// limitBody bounds the time to read r's body, if it has one, to d: a
// client that sends less than its Content-Length, or sends it byte by
// byte, no longer holds a connection and a goroutine beyond d. A request
// without a body is left alone (the server's background read would
// otherwise end a long response at the deadline).
func limitBody(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	b := &bodyReader{rc: r.Body, rctl: http.NewResponseController(w)}
	// A writer that cannot set deadlines (a test recorder, some
	// middleware) only loses the bound, not the classification.
	if err := b.rctl.SetReadDeadline(time.Now().Add(d)); err != nil {
		b.lifted = true
	}
	r.Body = b
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.lift()
	case err != nil:
		var maxBytes *http.MaxBytesError
		if !errors.As(err, &maxBytes) {
			err = &bodyError{err: err}
		}
	}
	return n, err
}

func (b *bodyReader) Close() error {
	b.lift()
	return b.rc.Close()
}

func (b *bodyReader) lift() {
	if !b.lifted {
		b.lifted = true
		b.rctl.SetReadDeadline(time.Time{})
	}
}

// isBodyError reports whether err is a failure to read the request body
// (see bodyError), which decoders must pass on rather than report as
// malformed input.
func isBodyError(err error) bool {
	var be *bodyError
	return errors.As(err, &be)
}

// decodeStrict reads one JSON object from r into v: unknown fields and
// data after the object are errors. A body that did not arrive (too large,
// too slow, the client gone) is returned as is, to classify as 413, 408 or
// 499; anything else is a 400 "malformed <what>: ...". It never panics.
func decodeStrict(r io.Reader, v any, what string) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			return nil
		}
		if err == nil {
			err = errors.New("data after the object")
		}
	}
	return malformed(err, what)
}

// malformed classifies err, met reading or decoding a body of what: a
// body that did not arrive (too large, too slow, the client gone) is
// returned as is, anything else is a 400 "malformed <what>: ...".
func malformed(err error, what string) error {
	var maxBytes *http.MaxBytesError
	if errors.As(err, &maxBytes) || isBodyError(err) {
		return err
	}
	return errBadRequest("malformed %s: %v", what, err)
}
