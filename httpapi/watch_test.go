package httpapi

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
