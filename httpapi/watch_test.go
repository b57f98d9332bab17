package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/yggrdb/yggr/internal/testutil"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/yggrdb/yggr"
)

// stream is an open watch response read line by line.
type stream struct {
	t    *testing.T
	resp *http.Response
	r    *bufio.Reader
}

// openStream sends GET /v1/watch?query with header and returns the
// response, whatever its status. The body is closed when the test ends.
func openStream(t *testing.T, srv *httptest.Server, query string, header http.Header) *stream {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), "GET", srv.URL+"/v1/watch?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET /v1/watch?%s: %v", query, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &stream{t: t, resp: resp, r: bufio.NewReader(resp.Body)}
}

// close ends the stream from the client's side.
func (s *stream) close() { s.resp.Body.Close() }

// raw reads one "\n"-terminated line.
func (s *stream) raw() string {
	s.t.Helper()
	l, err := s.r.ReadString('\n')
	if err != nil {
		s.t.Fatalf("reading the stream: %v (after %q)", err, l)
	}
	return strings.TrimSuffix(l, "\n")
}

// line reads and decodes one NDJSON line.
func (s *stream) line() WatchLine {
	s.t.Helper()
	raw := s.raw()
	var l WatchLine
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		s.t.Fatalf("line %q: %v", raw, err)
	}
	return l
}

// eof checks that the server closed the stream.
func (s *stream) eof() {
	s.t.Helper()
	if b, err := io.ReadAll(s.r); err != nil || len(b) > 0 {
		s.t.Fatalf("after the last line: %q, %v; want the end of the stream", b, err)
	}
}

func put(t *testing.T, db *yggr.DB, key, value string) uint64 {
	t.Helper()
	index, err := db.PutIndex(testCtx(t), []byte(key), []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	return index
}

func putLine(rev uint64, key, value string, create, version uint64, prev *Item) WatchLine {
	return WatchLine{Revision: rev, Events: []WatchEvent{{Type: EventTypePut, Prev: prev,
		Item: Item{Key: []byte(key), Value: []byte(value), ModIndex: rev, CreateIndex: create, Version: version}}}}
}

func TestWatchNDJSON(t *testing.T) {
	db := openDB(t)
	srv := serve(t, db, Options{})
	r1 := put(t, db, "p/a", "1")
	put(t, db, "q/x", "outside")
	s := openStream(t, srv, "prefix=p/&from=1&prev=true", nil)
	if s.resp.StatusCode != 200 || s.resp.Header.Get("Content-Type") != ContentTypeNDJSON {
		t.Fatalf("status %d, Content-Type %q; want 200 %s", s.resp.StatusCode, s.resp.Header.Get("Content-Type"), ContentTypeNDJSON)
	}
	// The start line, then the change made before the request (from=1).
	if l := s.line(); !l.Progress || l.Revision != 0 {
		t.Fatalf("first line %+v, want progress at revision 0 (from - 1)", l)
	}
	if diff := cmp.Diff(putLine(r1, "p/a", "1", r1, 1, nil), s.line()); diff != "" {
		t.Fatalf("first change (-want +got):\n%s", diff)
	}
	// Changes made while it streams: a put over an existing key (prev), a
	// delete, and a transaction's two puts on one line.
	r2 := put(t, db, "p/a", "2")
	if err := db.Delete(testCtx(t), []byte("p/a")); err != nil {
		t.Fatal(err)
	}
	put(t, db, "q/y", "outside")
	resp, err := db.Txn(testCtx(t), yggr.Txn{Then: []yggr.Request{{Op: yggr.OpPut, Key: []byte("p/b"), Value: []byte("b")}, {Op: yggr.OpPut, Key: []byte("p/c"), Value: []byte("c")}}})
	if err != nil {
		t.Fatal(err)
	}
	prev := Item{Key: []byte("p/a"), Value: []byte("1"), ModIndex: r1, CreateIndex: r1, Version: 1}
	want := []WatchLine{putLine(r2, "p/a", "2", r1, 2, &prev)}
	prev2 := Item{Key: []byte("p/a"), Value: []byte("2"), ModIndex: r2, CreateIndex: r1, Version: 2}
	want = append(want, WatchLine{Revision: r2 + 1, Events: []WatchEvent{{Type: EventTypeDelete, Item: Item{Key: []byte("p/a"), ModIndex: r2 + 1}, Prev: &prev2}}})
	txnLine := WatchLine{Revision: resp.Index}
	for _, k := range []string{"b", "c"} {
		txnLine.Events = append(txnLine.Events, putLine(resp.Index, "p/"+k, k, resp.Index, 1, nil).Events...)
	}
	want = append(want, txnLine)
	var got []WatchLine
	for range want {
		got = append(got, s.line())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("changes (-want +got):\n%s", diff)
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ id, event, data string }

// event reads one Server-Sent Event (up to its blank line).
func (s *stream) event() sseEvent {
	s.t.Helper()
	var e sseEvent
	for range 10 { // an event has at most three fields here
		l := s.raw()
		switch {
		case l == "":
			return e
		case strings.HasPrefix(l, "id: "):
			e.id = l[len("id: "):]
		case strings.HasPrefix(l, "event: "):
			e.event = l[len("event: "):]
		case strings.HasPrefix(l, "data: "):
			e.data = l[len("data: "):]
		default:
			s.t.Fatalf("unexpected SSE line %q", l)
		}
	}
	s.t.Fatalf("an SSE event without its blank line: %+v", e)
	return e
}

func TestWatchSSE(t *testing.T) {
	db := openDB(t)
	srv := serve(t, db, Options{})
	r1 := put(t, db, "p/a", "1")
	r2 := put(t, db, "p/b", "2")
	sse := http.Header{"Accept": {"text/html, text/event-stream;q=0.9"}}
	s := openStream(t, srv, "prefix=p/&from=1", sse)
	if ct := s.resp.Header.Get("Content-Type"); s.resp.StatusCode != 200 || ct != ContentTypeSSE {
		t.Fatalf("status %d, Content-Type %q; want 200 %s", s.resp.StatusCode, ct, ContentTypeSSE)
	}
	want := []sseEvent{
		{id: "0", event: "progress", data: `{"revision":0,"progress":true}`},
		{id: fmt.Sprint(r1), data: fmt.Sprintf(`{"revision":%d,"events":[{"type":"put","item":{"key":"cC9h","value":"MQ==","mod_index":%d,"create_index":%d,"version":1}}]}`, r1, r1, r1)},
		{id: fmt.Sprint(r2), data: fmt.Sprintf(`{"revision":%d,"events":[{"type":"put","item":{"key":"cC9i","value":"Mg==","mod_index":%d,"create_index":%d,"version":1}}]}`, r2, r2, r2)},
	}
	var got []sseEvent
	for range want {
		got = append(got, s.event())
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(sseEvent{})); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	s.close()

	// A browser reconnects with the last id it saw and gets what follows,
	// whatever from the URL says.
	r3 := put(t, db, "p/c", "3")
	sse.Set("Last-Event-ID", fmt.Sprint(r1))
	s = openStream(t, srv, "prefix=p/&from=1", sse)
	if e := s.event(); e.id != fmt.Sprint(r1) || e.event != "progress" {
		t.Fatalf("resumed stream starts with %+v, want progress with id %d", e, r1)
	}
	for _, want := range []uint64{r2, r3} {
		if e := s.event(); e.id != fmt.Sprint(want) || e.event != "" {
			t.Fatalf("resumed stream: got %+v, want the change with id %d", e, want)
		}
	}
}

// Progress lines come on a quiet range, and a stream outlives the
// handler's RequestTimeout and the server's read and write timeouts.
func TestWatchProgressAndNoTimeout(t *testing.T) {
	db := openDB(t)
	srv := httptest.NewUnstartedServer(NewHandler(db, Options{RequestTimeout: 150 * time.Millisecond}))
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 150*time.Millisecond, 150*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	r1 := put(t, db, "elsewhere", "x")
	s := openStream(t, srv, "prefix=quiet/&progress=100ms", nil)
	if l := s.line(); !l.Progress || l.Revision != r1 {
		t.Fatalf("start line %+v, want progress at %d (the node's last revision)", l, r1)
	}
	start := time.Now()
	for n := 0; time.Since(start) < 300*time.Millisecond; n++ { // two timeouts
		if n > 100 {
			t.Fatal("too many progress lines")
		}
		if l := s.line(); !l.Progress || l.Revision < r1 {
			t.Fatalf("on a quiet range: %+v, want progress at ≥ %d", l, r1)
		}
	}
	r2 := put(t, db, "quiet/k", "v")
	for range 100 {
		if l := s.line(); !l.Progress {
			if l.Revision != r2 {
				t.Fatalf("got %+v, want the change at %d", l, r2)
			}
			return
		}
	}
	t.Fatal("no change after 100 progress lines")
}

func TestWatchAuth(t *testing.T) {
	db := openDB(t)
	srv := serve(t, db, Options{Token: "tok"})
	s := openStream(t, srv, "", nil)
	if b, _ := io.ReadAll(s.r); s.resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), CodeUnauthorized) {
		t.Fatalf("without a token: %d %q, want 401", s.resp.StatusCode, b)
	}
	s = openStream(t, srv, "", http.Header{"Authorization": {"Bearer wrong"}})
	if s.resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("with a wrong token: %d, want 401", s.resp.StatusCode)
	}
	s = openStream(t, srv, "", http.Header{"Authorization": {"Bearer tok"}})
	if l := s.line(); s.resp.StatusCode != 200 || !l.Progress {
		t.Fatalf("with the token: %d, %+v; want 200 and the start line", s.resp.StatusCode, l)
	}
}

func TestWatchLimit(t *testing.T) {
	db := openDB(t)
	srv := serve(t, db, Options{MaxWatchers: 2})
	a, b := openStream(t, srv, "", nil), openStream(t, srv, "prefix=x", nil)
	a.line()
	b.line()
	c := openStream(t, srv, "", nil)
	body, _ := io.ReadAll(c.r)
	r := reply{c.resp.StatusCode, c.resp.Header, body}
	if r.status != http.StatusServiceUnavailable || errCode(t, r) != CodeBusy || r.header.Get("Retry-After") == "" {
		t.Fatalf("third watcher: %d %q (Retry-After %q), want 503 busy with Retry-After", r.status, body, r.header.Get("Retry-After"))
	}
	if !strings.Contains(string(body), "too many watchers (limit 2)") {
		t.Errorf("third watcher's error %q does not say why", body)
	}
	// Other requests are not limited.
	if r := send(t, srv, "GET", "/v1/kv", nil, nil); r.status != 200 {
		t.Fatalf("scan beside two watchers: %d", r.status)
	}
	// A watcher that leaves frees its place.
	a.close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := openStream(t, srv, "", nil)
		if c.resp.StatusCode == 200 {
			c.line()
			break
		}
		c.close()
		if time.Now().After(deadline) {
			t.Fatal("no place for a watcher 10s after one left")
		}
		runtime.Gosched()
	}
}

// compactPast writes to db until its oldest watchable revision is above
// rev (at most 50,000 writes).
func compactPast(t *testing.T, db *yggr.DB, rev uint64) {
	t.Helper()
	ctx := testCtx(t)
	for i := 0; db.OldestRevision() <= rev; i++ {
		if i == 50000 {
			t.Fatalf("oldest revision %d after %d writes, want > %d", db.OldestRevision(), i, rev)
		}
		if err := db.Put(ctx, []byte("filler"), fmt.Append(nil, i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWatchCompacted(t *testing.T) {
	db := openDB(t, yggr.WithWatchCache(1), yggr.WithSnapshotEntries(10))
	srv := serve(t, db, Options{})
	compactPast(t, db, 1)
	s := openStream(t, srv, "from=1", nil)
	body, _ := io.ReadAll(s.r)
	var l WatchLine
	if err := json.Unmarshal(body, &l); err != nil || s.resp.StatusCode != http.StatusGone || l.Error == nil ||
		l.Error.Code != CodeCompacted || l.Error.Status != http.StatusGone || l.Error.Oldest <= 1 || l.Error.Oldest > db.OldestRevision() {
		t.Fatalf("watch from 1: %d %q, want 410 compacted with the oldest revision (%d)", s.resp.StatusCode, body, db.OldestRevision())
	}
	// The message names it too, for people.
	if !strings.Contains(l.Error.Message, fmt.Sprint(l.Error.Oldest)) {
		t.Errorf("message %q does not name the oldest revision %d", l.Error.Message, l.Error.Oldest)
	}
	// From the oldest revision it streams. A compaction still under way
	// may overtake it (failed once so): then it must have moved the oldest
	// revision on, and the watch is tried again from there.
	testutil.WaitFor(t, "a watch from the oldest revision to stream", func() bool {
		oldest := db.OldestRevision()
		s := openStream(t, srv, fmt.Sprintf("from=%d", oldest), nil)
		defer s.close()
		if s.resp.StatusCode == http.StatusGone && db.OldestRevision() > oldest {
			return false
		}
		if l := s.line(); s.resp.StatusCode != 200 || !l.Progress {
			t.Fatalf("watch from the oldest revision %d: %d %+v", oldest, s.resp.StatusCode, l)
		}
		return true
	})
}

// A stream that falls behind while the log is compacted ends with an
// error line carrying the oldest revision.
func TestWatchCompactedMidStream(t *testing.T) {
	db := openDB(t, yggr.WithWatchCache(1), yggr.WithWatchBuffer(1), yggr.WithSnapshotEntries(10))
	h := NewHandler(db, Options{}).(*handler)
	paused, resume := make(chan struct{}), make(chan struct{})
	first := true
	h.watchHook = func() { // the stream's goroutine only
		if first {
			first = false
			close(paused)
			<-resume
		}
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	from := put(t, db, "k", "0")
	s := openStream(t, srv, fmt.Sprintf("prefix=k&from=%d", from), nil)
	s.line()
	<-paused // the stream holds the change at from and reads no further
	for i := range 10 {
		put(t, db, "k", fmt.Sprint(i+1))
	}
	compactPast(t, db, from+10)
	close(resume)
	if l := s.line(); l.Revision != from {
		t.Fatalf("got %+v, want the change at %d it held", l, from)
	}
	// The watcher's buffer may have held a change or two before it fell
	// behind; then the error.
	l := s.line()
	for last := from; l.Error == nil && l.Revision == last+1 && l.Revision < from+10; last = l.Revision {
		l = s.line()
	}
	if l.Error == nil || l.Error.Code != CodeCompacted || l.Error.Status != http.StatusGone || l.Error.Oldest <= from+10 {
		t.Fatalf("after the compaction: %+v, want a compacted error line with the oldest revision > %d", l, from+10)
	}
	s.eof()
}

// Closing Options.Shutdown (as http.Server.Shutdown does through
// RegisterOnShutdown) ends the streams with a "closed" line, so that
// Shutdown returns at once.
func TestWatchShutdown(t *testing.T) {
	db := openDB(t)
	done := make(chan struct{})
	srv := httptest.NewUnstartedServer(NewHandler(db, Options{Shutdown: done}))
	srv.Config.RegisterOnShutdown(func() { close(done) })
	srv.Start()
	t.Cleanup(srv.Close)
	nd, sse := openStream(t, srv, "", nil), openStream(t, srv, "", http.Header{"Accept": {ContentTypeSSE}})
	nd.line()
	sse.event()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with two streams: %v", err)
	}
	if l := nd.line(); l.Error == nil || l.Error.Code != CodeClosed {
		t.Fatalf("NDJSON stream's last line %+v, want a closed error", l)
	}
	nd.eof()
	if e := sse.event(); e.event != "end" || !strings.Contains(e.data, `"code":"closed"`) {
		t.Fatalf("SSE stream's last event %+v, want end with code closed", e)
	}
	sse.eof()
}

// Closing the database ends the streams with a "closed" line.
func TestWatchDatabaseClosed(t *testing.T) {
	db, err := yggr.Open(t.TempDir(), nil, yggr.WithUnsafeNoSync())
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, db, Options{})
	s := openStream(t, srv, "", nil)
	s.line()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if l := s.line(); l.Error == nil || l.Error.Code != CodeClosed || l.Error.Status != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %+v, want a closed error line", l)
	}
	s.eof()
}

func TestWatchBadRequests(t *testing.T) {
	db := openDB(t)
	srv := serve(t, db, Options{Limits: yggr.Limits{MaxKeyBytes: 8}})
	tests := []struct {
		query, lastEventID string
		status             int
		code               string
	}{
		{"from=x", "", 400, CodeInvalid},
		{"from=-1", "", 400, CodeInvalid},
		{"prev=maybe", "", 400, CodeInvalid},
		{"progress=10ms", "", 400, CodeInvalid},
		{"progress=2h", "", 400, CodeInvalid},
		{"progress=soon", "", 400, CodeInvalid},
		{"start=b&end=a", "", 400, CodeInvalid},
		{"start=a&end=a", "", 400, CodeInvalid},
		{"bogus=1", "", 400, CodeInvalid},
		{"prefix=a&prefix=b", "", 400, CodeInvalid},
		{"prefix=%ZZ", "", 400, CodeInvalid},
		{"prefix=123456789", "", 413, CodeTooLarge},
		{"", "x", 400, CodeInvalid},
		{"", "18446744073709551615", 400, CodeInvalid},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.lastEventID != "" {
			h.Set("Last-Event-ID", tt.lastEventID)
		}
		s := openStream(t, srv, tt.query, h)
		body, _ := io.ReadAll(s.r)
		r := reply{s.resp.StatusCode, s.resp.Header, body}
		if r.status != tt.status || errCode(t, r) != tt.code {
			t.Errorf("watch ?%s (Last-Event-ID %q): %d %q, want %d %s", tt.query, tt.lastEventID, r.status, body, tt.status, tt.code)
		}
	}
	if r := send(t, srv, "POST", "/v1/watch", nil, nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/watch: %d, want 405", r.status)
	}
}

func TestParseWatchRequest(t *testing.T) {
	tests := []struct {
		query, lastEventID, accept string
		want                       watchRequest
	}{
		{"", "", "", watchRequest{}},
		{"prefix=p/", "", "", watchRequest{start: []byte("p/"), end: []byte("p0")}},
		{"prefix=p/&start=p/m&end=q", "", "", watchRequest{start: []byte("p/m"), end: []byte("p0")}},
		{"start=a&end=c&from=7&prev&progress=1s", "", "", watchRequest{start: []byte("a"), end: []byte("c"), from: 7, prev: true, progress: time.Second}},
		{"prev=false&progress=0", "", "", watchRequest{}},
		{"from=7", " 41 ", "application/json, text/event-stream", watchRequest{from: 42, sse: true}},
		{"", "", "text/event-stream;q=0", watchRequest{}},
		{"", "", "text/*", watchRequest{}},
	}
	for _, tt := range tests {
		got, err := parseWatchRequest(tt.query, tt.lastEventID, tt.accept, 100)
		if err != nil {
			t.Errorf("%q %q %q: %v", tt.query, tt.lastEventID, tt.accept, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(watchRequest{}), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%q %q %q (-want +got):\n%s", tt.query, tt.lastEventID, tt.accept, diff)
		}
	}
}
