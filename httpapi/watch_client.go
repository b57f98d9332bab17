package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/yggrdb/yggr"
)

// DefaultWatchRetryFor is how long a Client.Watch keeps trying to
// reconnect when ClientOptions.WatchRetryFor is zero.
const DefaultWatchRetryFor = time.Minute

// healthyStream is how long a stream must have lasted for its break to
// start a new first pass of reconnections, as one that delivered a change
// does (the Client's retry policy, retry.go, paces the rest).
const healthyStream = time.Second

// Watch yields the changes to the keys in [start, end) (end nil: to the
// last key; yggr.PrefixEnd for a prefix) in revision order, as
// yggr.DB.Watch does, through GET /v1/watch. When the stream breaks (a
// dropped connection, a node shutting down, a 503 or 504) it reconnects on its own,
// to the next endpoint, from the revision after the last change or
// progress notification it received: no change is missed or yielded
// twice. Reconnections follow the Client's retry policy (a watch is
// idempotent): the next endpoint at once, a pause of 250ms doubling to 5s
// after each pass over all of them, a new first pass after a stream that
// delivered something or lasted a second; an endpoint that answered
// no_leader or not_leader is skipped until every endpoint was tried. After
// ClientOptions.WatchRetryFor without a stream the watch ends with
// ErrUnavailable.
//
// It takes the library's watch options: yggr.FromRevision (0 or none: the
// answering node's next revision when the watch first connects),
// yggr.WithPrevItem, yggr.WithProgressNotify (the server accepts
// MinWatchProgress to MaxWatchProgress).
//
// The iterator runs until ctx ends or the loop breaks; it yields one error
// and stops when the watch cannot go on: ctx's error, a
// *yggr.CompactedError (matching yggr.ErrCompacted) when the next revision
// is older than the node's history, ErrUnavailable, or an *APIError the
// server answered (a bad range, 401). The Client's Timeout bounds each
// connection attempt until its stream starts.
func (c *Client) Watch(ctx context.Context, start, end []byte, opts ...yggr.WatchOption) iter.Seq2[yggr.Change, error] {
	ws := yggr.WatchSettingsOf(opts...)
	return func(yield func(yggr.Change, error) bool) {
		if end != nil && bytes.Compare(start, end) >= 0 {
			yield(yggr.Change{}, fmt.Errorf("%w: watch range [%q, %q) is empty", yggr.ErrInvalid, start, end))
			return
		}
		s := &watchStream{c: c, start: start, end: end, opts: ws, next: ws.From, yield: yield}
		if err := s.run(ctx); err != nil && !errors.Is(err, errConsumerStopped) {
			yield(yggr.Change{}, err)
		}
	}
}

// errConsumerStopped: the loop over the iterator broke.
var errConsumerStopped = errors.New("httpapi: the watch's consumer stopped")

// retryableWatchError is a stream failure the watch recovers from by
// reconnecting.
type retryableWatchError struct{ err error }

func (e retryableWatchError) Error() string { return e.err.Error() }
func (e retryableWatchError) Unwrap() error { return e.err }

// watchStream is the state of one Client.Watch.
type watchStream struct {
	c          *Client
	start, end []byte
	opts       yggr.WatchSettings
	next       uint64 // the next revision to yield; 0 until the first stream says
	yield      func(yggr.Change, error) bool
}

// run connects, streams and reconnects until the watch ends.
func (s *watchStream) run(ctx context.Context) error {
	c := s.c
	n := len(c.endpoints)
	retryFor := c.watchRetryFor
	c.mu.Lock()
	i := c.preferred
	c.mu.Unlock()
	var failingSince time.Time // zero while the last attempt streamed
	failed := 0                // attempts since the last good stream
	skip := make([]bool, n)    // answered followed in this pass
	// Bounded: every round either returns, or counts toward watchRetryFor and
	// pauses after each pass, or streamed: delivered changes or lasted
	// healthyStream (a stream that did neither counts as a failed attempt).
	for {
		began, from := time.Now(), s.next
		err := s.attempt(ctx, i)
		if errors.Is(err, errConsumerStopped) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var retry retryableWatchError
		if !errors.As(err, &retry) {
			return err
		}
		if errors.Is(err, errStreamBroke) {
			failingSince = time.Time{}
			if s.next > from || time.Since(began) >= healthyStream {
				// It worked: a new first pass, from the next endpoint, at once.
				failed = 0
				clear(skip)
				i = (i + 1) % n
				continue
			}
		} else if failingSince.IsZero() {
			failingSince = time.Now()
		} else if retryFor > 0 && time.Since(failingSince) > retryFor {
			return fmt.Errorf("%w: watch: no stream for %v: %w", ErrUnavailable, retryFor, retry.err)
		}
		if failureOf(retry.err) == failFollowed {
			skip[i] = true
		}
		failed++
		i = (i + 1) % n
		for k := 0; k < n && skip[i]; k++ {
			i = (i + 1) % n
		}
		if skip[i] || failed%n == 0 { // a pass is over
			clear(skip)
			if err := sleep(ctx, retryPause(max(failed/n, 1))); err != nil {
				return err
			}
		}
	}
}

// errStreamBroke marks a stream that had started and then broke.
var errStreamBroke = errors.New("httpapi: watch stream broke")

// attempt connects to one endpoint and streams from it. It returns
// errConsumerStopped, a retryableWatchError (wrapping errStreamBroke if
// the stream had started), or the error that ends the watch.
func (s *watchStream) attempt(ctx context.Context, i int) error {
	q := url.Values{}
	if len(s.start) > 0 {
		q.Set("start", string(s.start))
	}
	if len(s.end) > 0 {
		q.Set("end", string(s.end))
	}
	if s.next > 0 {
		q.Set("from", strconv.FormatUint(s.next, 10))
	}
	if s.opts.PrevItem {
		q.Set("prev", "true")
	}
	if s.opts.ProgressNotify > 0 {
		q.Set("progress", s.opts.ProgressNotify.String())
	}
	resp, err := s.c.attempt(ctx, s.c.endpoints[i], request{method: http.MethodGet, path: "/v1/watch", query: q})
	if err != nil {
		return retryableWatchError{err}
	}
	defer resp.Close()
	if resp.StatusCode != http.StatusOK {
		return s.refused(resp.Response)
	}
	resp.stopTimer() // the stream runs for as long as ctx allows
	s.c.mu.Lock()
	s.c.preferred = i
	s.c.mu.Unlock()
	return s.stream(resp.Body)
}

// refused is the error of a watch request the server refused: a
// *yggr.CompactedError for 410, a retryableWatchError for an answer the
// retry policy does not call final (retry.go), else an *APIError.
func (s *watchStream) refused(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var l WatchLine
	if resp.StatusCode == http.StatusGone && json.Unmarshal(body, &l) == nil && l.Error != nil && l.Error.Code == CodeCompacted {
		return &yggr.CompactedError{Requested: s.next, Oldest: l.Error.Oldest}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	apiErr := readAPIError(resp)
	if failureOf(apiErr) != failFinal {
		return retryableWatchError{apiErr}
	}
	return apiErr
}

// stream reads the lines of a started stream and yields its changes.
func (s *watchStream) stream(body io.Reader) error {
	br := bufio.NewReaderSize(body, 64<<10)
	for first := true; ; first = false {
		line, err := readLine(br, maxResponseBytes)
		if err != nil {
			return retryableWatchError{fmt.Errorf("%w: %w", errStreamBroke, err)}
		}
		c, err := decodeWatchLine(line)
		if err != nil {
			var we *WatchError
			if errors.As(err, &we) {
				return s.streamError(we)
			}
			return err
		}
		switch {
		case first:
			// The start line: the stream begins after its revision.
			if !c.IsProgress() || (s.next > 0 && c.Revision+1 != s.next) {
				return fmt.Errorf("httpapi: watch stream from %d started with revision %d", s.next, c.Revision)
			}
			s.next = c.Revision + 1
		case c.IsProgress():
			// A quiet range's progress may repeat the last revision.
			if c.Revision+1 < s.next {
				return fmt.Errorf("httpapi: watch stream went back to progress %d after %d", c.Revision, s.next-1)
			}
			s.next = c.Revision + 1
			if s.opts.ProgressNotify > 0 && !s.yield(c, nil) {
				return errConsumerStopped
			}
		case c.Revision < s.next:
			return fmt.Errorf("httpapi: watch stream went back to revision %d after %d", c.Revision, s.next-1)
		default:
			s.next = c.Revision + 1
			if !s.yield(c, nil) {
				return errConsumerStopped
			}
		}
	}
}

// streamError is what the error line we means for the watch: the stream
// broke, to be resumed elsewhere, unless the retry policy calls the
// answer final (retry.go) or the revision was compacted. A node closing
// or shutting its streams down ends them with closed, timeout or canceled.
func (s *watchStream) streamError(we *WatchError) error {
	if we.Code == CodeCompacted {
		return &yggr.CompactedError{Requested: s.next, Oldest: we.Oldest}
	}
	apiErr := &APIError{StatusCode: we.Status, Code: we.Code, Message: we.Message}
	if failureOf(apiErr) != failFinal {
		return retryableWatchError{fmt.Errorf("%w: %w", errStreamBroke, apiErr)}
	}
	return apiErr
}

func (e *WatchError) Error() string {
	return fmt.Sprintf("httpapi: watch ended: %d %s: %s", e.Status, e.Code, e.Message)
}

// readLine reads one line (without its "\n") of at most limit bytes. A
// last line without "\n" is an error: the stream was cut.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > limit+1 {
			return nil, fmt.Errorf("httpapi: watch line longer than %d bytes", limit)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// decodeWatchLine decodes one NDJSON line of a watch stream into a change
// or progress notification; an error line is returned as a *WatchError.
func decodeWatchLine(line []byte) (yggr.Change, error) {
	var l WatchLine
	if err := json.Unmarshal(line, &l); err != nil {
		return yggr.Change{}, fmt.Errorf("httpapi: bad watch line: %v", err)
	}
	switch {
	case l.Error != nil:
		if l.Error.Code == "" {
			return yggr.Change{}, errors.New("httpapi: bad watch line: an error without a code")
		}
		return yggr.Change{}, l.Error
	case l.Progress:
		if len(l.Events) > 0 {
			return yggr.Change{}, errors.New("httpapi: bad watch line: a progress line with events")
		}
		return yggr.Change{Revision: l.Revision}, nil
	case len(l.Events) == 0:
		return yggr.Change{}, errors.New("httpapi: bad watch line: no events, no progress, no error")
	}
	c := yggr.Change{Revision: l.Revision, Events: make([]yggr.Event, len(l.Events))}
	for i, ev := range l.Events {
		e := &c.Events[i]
		switch ev.Type {
		case EventTypePut:
			e.Type = yggr.EventPut
		case EventTypeDelete:
			e.Type = yggr.EventDelete
		default:
			return yggr.Change{}, fmt.Errorf("httpapi: bad watch line: event type %q", ev.Type)
		}
		if ev.Item.ModIndex != l.Revision {
			return yggr.Change{}, fmt.Errorf("httpapi: bad watch line: an event at %d in revision %d", ev.Item.ModIndex, l.Revision)
		}
		e.Item = yggrItem(ev.Item)
		if ev.Prev != nil {
			p := yggrItem(*ev.Prev)
			e.Prev = &p
		}
	}
	return c, nil
}

func yggrItem(it Item) yggr.Item {
	return yggr.Item{Key: it.Key, Value: it.Value, ModIndex: it.ModIndex, CreateIndex: it.CreateIndex, Version: it.Version}
}
