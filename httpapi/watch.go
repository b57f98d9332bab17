package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/yggrdb/yggr"
)

// DefaultMaxWatchers is the number of watch streams a handler serves at
// once when Options.MaxWatchers is zero.
const DefaultMaxWatchers = 1000

// Bounds of the progress parameter of GET /v1/watch.
const (
	MinWatchProgress = 100 * time.Millisecond
	MaxWatchProgress = time.Hour
)

// CodeCompacted is the error code of a watch whose starting revision is
// older than the node's history: status 410 before the stream starts, or
// the final line of a stream. The error carries "oldest", the oldest
// revision the node can still watch from.
const CodeCompacted = "compacted"

// Content types of a watch stream.
const (
	ContentTypeNDJSON = "application/x-ndjson"
	ContentTypeSSE    = "text/event-stream"
)

// watchPattern is the route of the watch stream.
const watchPattern = "GET /v1/watch"

// streaming reports whether the route of pattern is a long-lived stream,
// which RequestTimeout does not bound.
func streaming(pattern string) bool { return pattern == watchPattern || pattern == observePattern }

// WatchLine is one line of a watch stream: a change (Revision and
// Events), a progress notification (Progress, with the revision through
// which every change in the range has been sent), or the error that ends
// the stream (Error only).
type WatchLine struct {
	Revision uint64       `json:"revision"`
	Progress bool         `json:"progress,omitempty"`
	Events   []WatchEvent `json:"events,omitempty"`
	Error    *WatchError  `json:"error,omitempty"`
}

// WatchEvent is one change to one key. Type is "put" or "delete"; after a
// delete Item has only Key and ModIndex. Prev is the item before the
// change, when the watch asked for it (prev=true) and the key existed.
type WatchEvent struct {
	Type string `json:"type"`
	Item Item   `json:"item"`
	Prev *Item  `json:"prev,omitempty"`
}

// WatchError ends a watch stream, as its last line, or answers a watch
// request with the HTTP status Status. Oldest is set with CodeCompacted.
type WatchError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Oldest  uint64 `json:"oldest,omitempty"`
}

// watchErrorLine is the JSON of a line that ends a stream.
type watchErrorLine struct {
	Error WatchError `json:"error"`
}

// watchRequest is a parsed GET /v1/watch.
type watchRequest struct {
	start, end []byte // end nil: unbounded
	from       uint64 // 0: the node's next revision
	prev       bool
	progress   time.Duration
	sse        bool
}

// parseWatchRequest parses the query, the Last-Event-ID header (which
// overrides from: id+1) and the Accept header of a watch request.
func parseWatchRequest(rawQuery, lastEventID, accept string, maxKey int) (watchRequest, error) {
	var wr watchRequest
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return wr, errBadRequest("malformed query: %v", err)
	}
	if err := checkParams(q, "prefix", "start", "end", "from", "prev", "progress"); err != nil {
		return wr, err
	}
	prefix, start, end := []byte(q.Get("prefix")), []byte(q.Get("start")), []byte(q.Get("end"))
	for _, p := range []struct {
		name string
		b    []byte
	}{{"prefix", prefix}, {"start", start}, {"end", end}} {
		if len(p.b) > maxKey {
			return wr, errTooLarge("%s is %d bytes, limit %d", p.name, len(p.b), maxKey)
		}
	}
	wr.start, wr.end = scanRange(prefix, start, end)
	if wr.end != nil && bytes.Compare(wr.start, wr.end) >= 0 {
		return wr, errBadRequest("watch range [%q, %q) is empty", wr.start, wr.end)
	}
	if s := q.Get("from"); s != "" {
		if wr.from, err = strconv.ParseUint(s, 10, 64); err != nil {
			return wr, errBadRequest("bad from %q (want a revision)", s)
		}
	}
	if wr.prev, err = boolParam(q, "prev"); err != nil {
		return wr, err
	}
	if s := q.Get("progress"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || (d != 0 && (d < MinWatchProgress || d > MaxWatchProgress)) {
			return wr, errBadRequest("bad progress %q (want a duration from %v to %v, or 0)", s, MinWatchProgress, MaxWatchProgress)
		}
		wr.progress = d
	}
	if lastEventID != "" {
		id, err := strconv.ParseUint(strings.TrimSpace(lastEventID), 10, 64)
		if err != nil || id == math.MaxUint64 {
			return wr, errBadRequest("bad Last-Event-ID %q (want a revision)", lastEventID)
		}
		wr.from = id + 1
	}
	wr.sse = acceptsSSE(accept)
	return wr, nil
}

// acceptsSSE reports whether an Accept header asks for text/event-stream
// (with a quality above zero).
func acceptsSSE(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != ContentTypeSSE {
			continue
		}
		if q, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
				continue
			}
		}
		return true
	}
	return false
}

// watchState is the handler's bookkeeping of watch streams.
type watchState struct {
	active atomic.Int64
}

// errShuttingDown ends the streams when Options.Shutdown closes.
var errShuttingDown = fmt.Errorf("%w: httpapi: the server is shutting down", yggr.ErrClosed)

// watch serves GET /v1/watch: see the package documentation.
func (h *handler) watch(w http.ResponseWriter, r *http.Request) {
	wr, err := parseWatchRequest(r.URL.RawQuery, r.Header.Get("Last-Event-ID"), r.Header.Get("Accept"), h.opts.Limits.MaxKeyBytes)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if n := h.watches.active.Add(1); n > int64(h.opts.MaxWatchers) {
		h.watches.active.Add(-1)
		writeErrorCode(w, http.StatusServiceUnavailable, CodeBusy,
			fmt.Sprintf("httpapi: too many watchers (limit %d); retry later or on another node", h.opts.MaxWatchers))
		return
	}
	defer h.watches.active.Add(-1)

	from := wr.from
	if from == 0 {
		from = h.db.Status().Applied + 1
	}
	if oldest := h.db.OldestRevision(); from < oldest {
		writeJSON(w, http.StatusGone, watchErrorLine{compactedError(&yggr.CompactedError{Requested: from, Oldest: oldest})})
		return
	}

	// A stream outlives the server's read and write timeouts; the errors
	// only say the writer cannot (then it has no such deadline).
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	hd := w.Header()
	if wr.sse {
		hd.Set("Content-Type", ContentTypeSSE)
	} else {
		hd.Set("Content-Type", ContentTypeNDJSON)
	}
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // proxies: do not buffer the stream
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)

	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	if h.opts.Shutdown != nil {
		// Owned by this request; ends when the stream ends or the server
		// shuts down, whichever comes first.
		go func() {
			select {
			case <-h.opts.Shutdown:
				cancel(errShuttingDown)
			case <-ctx.Done():
			}
		}()
	}

	sw := &streamWriter{w: w, rc: rc, sse: wr.sse}
	// The first line says where the stream starts: every change before
	// from has been "sent". A client resumes from its revision + 1.
	if !sw.line(WatchLine{Revision: from - 1, Progress: true}) {
		return
	}
	opts := []yggr.WatchOption{yggr.FromRevision(from)}
	if wr.prev {
		opts = append(opts, yggr.WithPrevItem())
	}
	if wr.progress > 0 {
		opts = append(opts, yggr.WithProgressNotify(wr.progress))
	}
	for c, err := range h.db.Watch(ctx, wr.start, wr.end, opts...) {
		if err != nil {
			if r.Context().Err() != nil {
				return // the client left: nobody to tell
			}
			if cause := context.Cause(ctx); errors.Is(err, context.Canceled) && cause != nil {
				err = cause
			}
			if status, _ := classify(err); status >= 500 && !errors.Is(err, yggr.ErrClosed) {
				h.opts.Logger.Warn("httpapi: watch failed", "err", err)
			}
			sw.end(watchErrorOf(err))
			return
		}
		if h.watchHook != nil {
			h.watchHook()
		}
		if !sw.line(lineOf(c)) {
			return
		}
	}
}

// watchErrorOf is the line that reports err, which ends a stream.
func watchErrorOf(err error) WatchError {
	var cerr *yggr.CompactedError
	if errors.As(err, &cerr) {
		return compactedError(cerr)
	}
	status, code := classify(err)
	return WatchError{Status: status, Code: code, Message: err.Error()}
}

func compactedError(cerr *yggr.CompactedError) WatchError {
	return WatchError{Status: http.StatusGone, Code: CodeCompacted, Message: cerr.Error(), Oldest: cerr.Oldest}
}

// NewWatchLine is the line of a change or progress notification, as a
// watch stream sends it.
func NewWatchLine(c yggr.Change) WatchLine { return lineOf(c) }

// lineOf is the line of a change or progress notification.
func lineOf(c yggr.Change) WatchLine {
	if c.IsProgress() {
		return WatchLine{Revision: c.Revision, Progress: true}
	}
	l := WatchLine{Revision: c.Revision, Events: make([]WatchEvent, len(c.Events))}
	for i, ev := range c.Events {
		e := &l.Events[i]
		e.Type, e.Item = eventTypeName(ev.Type), itemOf(ev.Item)
		if ev.Type == yggr.EventPut && e.Item.Value == nil {
			e.Item.Value = []byte{} // "" in JSON: null is for a delete
		}
		if ev.Prev != nil {
			p := itemOf(*ev.Prev)
			e.Prev = &p
		}
	}
	return l
}

// Event types of WatchEvent.Type.
const (
	EventTypePut    = "put"
	EventTypeDelete = "delete"
)

func eventTypeName(t yggr.EventType) string {
	if t == yggr.EventDelete {
		return EventTypeDelete
	}
	return EventTypePut
}

// streamWriter writes the lines of one stream, as NDJSON or as SSE, and
// flushes each.
type streamWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	sse bool
	buf []byte
}

// line writes one change or progress line; false if the client is gone.
func (s *streamWriter) line(l WatchLine) bool {
	body, err := json.Marshal(l)
	if err != nil { // only []byte, strings and integers: cannot happen
		return false
	}
	s.buf = s.buf[:0]
	if s.sse {
		s.buf = fmt.Appendf(s.buf, "id: %d\n", l.Revision)
		if l.Progress {
			s.buf = append(s.buf, "event: progress\n"...)
		}
		s.buf = append(s.buf, "data: "...)
		s.buf = append(s.buf, body...)
		s.buf = append(s.buf, "\n\n"...)
	} else {
		s.buf = append(append(s.buf, body...), '\n')
	}
	return s.write()
}

// end writes the error that ends the stream.
func (s *streamWriter) end(we WatchError) {
	body, err := json.Marshal(watchErrorLine{we})
	if err != nil {
		return
	}
	s.buf = s.buf[:0]
	if s.sse {
		s.buf = append(s.buf, "event: end\ndata: "...)
		s.buf = append(s.buf, body...)
		s.buf = append(s.buf, "\n\n"...)
	} else {
		s.buf = append(append(s.buf, body...), '\n')
	}
	s.write()
}

func (s *streamWriter) write() bool {
	if _, err := s.w.Write(s.buf); err != nil {
		return false
	}
	return s.rc.Flush() == nil
}
