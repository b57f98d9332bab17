package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr"

	"github.com/yggrdb/yggr/internal/testutil"
)

// collect reads changes from seq until it has n of them (progress
// notifications are counted separately), or an error.
func collect(seq func(func(yggr.Change, error) bool), n int) ([]yggr.Change, error) {
	var out []yggr.Change
	if n == 0 {
		return nil, nil
	}
	for c, err := range seq {
		if err != nil {
			return out, err
		}
		if c.IsProgress() {
			continue
		}
		out = append(out, c)
		if len(out) == n {
			break
		}
	}
	return out, nil
}

// writeMix makes n changes under prefix: puts, overwrites, deletes and
// two-key transactions.
func writeMix(t *testing.T, db *yggr.DB, prefix string, n int) {
	t.Helper()
	ctx := testCtx(t)
	for i := range n {
		k := []byte(fmt.Sprintf("%s%d", prefix, i%7))
		var err error
		switch i % 4 {
		case 0, 1:
			err = db.Put(ctx, k, fmt.Append(nil, "v", i))
		case 2: // the key the last step put: every step makes a change
			err = db.Delete(ctx, fmt.Appendf(nil, "%s%d", prefix, (i-1)%7))
		case 3:
			_, err = db.Txn(ctx, yggr.Txn{Then: []yggr.Request{{Op: yggr.OpPut, Key: k, Value: []byte("t")}, {Op: yggr.OpPut, Key: append(k, 'x'), Value: []byte("u")}}})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// The client yields exactly what the library's watch yields.
func TestClientWatchMatchesLibrary(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	h := NewHandler(db, Options{Token: "tok"}).(*handler)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := newClient(t, []string{srv.URL}, ClientOptions{Token: "tok"})
	put(t, db, "other", "x")
	writeMix(t, db, "p/", 40)
	put(t, db, "q", "x")
	start, end := []byte("p/"), yggr.PrefixEnd([]byte("p/"))
	want, err := collect(db.Watch(ctx, start, end, yggr.FromRevision(1), yggr.WithPrevItem()), 40)
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(c.Watch(ctx, start, end, yggr.FromRevision(1), yggr.WithPrevItem()), 40)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("client watch (-library +client):\n%s", diff)
	}
	// Without From it starts at the node's next revision.
	waitWatchers(t, h, 0)
	next, stop := pull(func(ctx context.Context) watchSeq { return c.Watch(ctx, start, end) })
	defer stop()
	waitWatchers(t, h, 1)
	r := put(t, db, "p/new", "n")
	if ch, err := next(); err != nil || ch.Revision != r {
		t.Fatalf("watch from now: %+v, %v; want the change at %d", ch, err, r)
	}
}

// waitWatchers waits until h serves n watch streams.
func waitWatchers(t *testing.T, h *handler, n int64) {
	t.Helper()
	testutil.WaitFor(t, fmt.Sprintf("%d watch streams", n), func() bool { return h.watches.active.Load() == n })
}

// pull runs the watch seq(ctx) and returns a function that returns its
// next change (an error after 20s) and one that stops it.
func pull(seq func(ctx context.Context) func(func(yggr.Change, error) bool)) (func() (yggr.Change, error), func()) {
	type item struct {
		c   yggr.Change
		err error
	}
	ch := make(chan item)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	// Owned by the test; ends when stop cancels ctx.
	go func() {
		defer close(done)
		for c, err := range seq(ctx) {
			select {
			case ch <- item{c, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	next := func() (yggr.Change, error) {
		select {
		case it := <-ch:
			return it.c, it.err
		case <-time.After(20 * time.Second):
			return yggr.Change{}, errors.New("nothing for 20s")
		}
	}
	return next, func() { cancel(); <-done }
}

type watchSeq = func(func(yggr.Change, error) bool)

// proxy forwards TCP connections to target and can cut them all.
type proxy struct {
	ln       net.Listener
	target   string
	mu       sync.Mutex
	conns    []net.Conn
	accepted atomic.Int32
	wg       sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	// Owned by the proxy; ends when the cleanup closes the listener.
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Add(2)
			// Each copies one direction until either side closes.
			go func() { defer p.wg.Done(); io.Copy(s, c); s.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, s); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

// cut closes every connection through the proxy.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// A watch whose connection is cut again and again resumes each time from
// where it was: the changes it yields are the library's, with no gap and
// no duplicate.
func TestClientWatchResumesAfterDrops(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{})
	px := startProxy(t, srv.Listener.Addr().String())
	c := newClient(t, []string{px.ln.Addr().String()}, ClientOptions{WatchRetryFor: 10 * time.Second})
	// Batches of 30 changes, cuts after every 20 received: a cut finds
	// changes still to send, in flight or not yet written.
	const n, batch, cutEvery = 300, 30, 20
	writeMix(t, db, "p/", batch)
	written := batch
	var got []yggr.Change
	for ch, err := range c.Watch(ctx, []byte("p/"), yggr.PrefixEnd([]byte("p/")), yggr.FromRevision(1), yggr.WithPrevItem()) {
		if err != nil {
			t.Fatalf("after %d changes: %v", len(got), err)
		}
		got = append(got, ch)
		if len(got)%cutEvery == 0 {
			px.cut()
		}
		if len(got) == written && written < n {
			writeMix(t, db, fmt.Sprintf("p/%d/", written), batch)
			written += batch
		}
		if len(got) == n {
			break
		}
	}
	want, err := collect(db.Watch(ctx, []byte("p/"), yggr.PrefixEnd([]byte("p/")), yggr.FromRevision(1), yggr.WithPrevItem()), n)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("resumed watch (-library +client):\n%s", diff)
	}
	if a := px.accepted.Load(); a < n/batch {
		t.Errorf("%d connections for %d cuts: the watch did not reconnect after each batch", a, n/cutEvery)
	}
}

// A server that shuts down ends its streams; the client goes on on the
// next endpoint, with no gap.
func TestClientWatchFailsOverOnShutdown(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	done := make(chan struct{})
	first := httptest.NewUnstartedServer(NewHandler(db, Options{Shutdown: done}))
	first.Config.RegisterOnShutdown(func() { close(done) })
	first.Start()
	t.Cleanup(first.Close)
	second := serve(t, db, Options{})
	c := newClient(t, []string{first.URL, second.URL}, ClientOptions{})
	next, stop := pull(func(ctx context.Context) watchSeq { return c.Watch(ctx, []byte("k"), nil, yggr.FromRevision(1)) })
	defer stop()
	r1 := put(t, db, "k", "1")
	if ch, err := next(); err != nil || ch.Revision != r1 {
		t.Fatalf("first change: %+v, %v; want %d", ch, err, r1)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := first.Config.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	r2 := put(t, db, "k", "2")
	if ch, err := next(); err != nil || ch.Revision != r2 {
		t.Fatalf("after the first server shut down: %+v, %v; want %d", ch, err, r2)
	}
}

func TestClientWatchErrors(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t, yggr.WithWatchCache(1), yggr.WithSnapshotEntries(10))
	srv := serve(t, db, Options{Token: "tok"})
	compactPast(t, db, 1)

	c := newClient(t, []string{srv.URL}, ClientOptions{Token: "tok"})
	_, err := collect(c.Watch(ctx, nil, nil, yggr.FromRevision(1)), 1)
	var cerr *yggr.CompactedError
	if !errors.As(err, &cerr) || !errors.Is(err, yggr.ErrCompacted) || cerr.Requested != 1 || cerr.Oldest <= 1 || cerr.Oldest > db.OldestRevision() {
		t.Errorf("watch from 1 after compaction: %v, want a CompactedError with the oldest revision", err)
	}

	wrong := newClient(t, []string{srv.URL}, ClientOptions{Token: "wrong"})
	if _, err := collect(wrong.Watch(ctx, nil, nil), 1); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("watch with a wrong token: %v, want ErrUnauthorized", err)
	}
	if _, err := collect(c.Watch(ctx, []byte("b"), []byte("a")), 1); !errors.Is(err, yggr.ErrInvalid) {
		t.Errorf("watch [b, a): %v, want ErrInvalid", err)
	}
	if _, err := collect(c.Watch(ctx, nil, nil, yggr.WithProgressNotify(time.Millisecond)), 1); !errors.Is(err, yggr.ErrInvalid) {
		t.Errorf("watch with progress every 1ms: %v, want ErrInvalid (400)", err)
	}

	dead := newClient(t, []string{deadAddr(t), deadAddr(t)}, ClientOptions{WatchRetryFor: 300 * time.Millisecond})
	began := time.Now()
	if _, err := collect(dead.Watch(ctx, nil, nil), 1); !errors.Is(err, ErrUnavailable) {
		t.Errorf("watch with no endpoint up: %v, want ErrUnavailable", err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("gave up after %v with WatchRetryFor 300ms", d)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := collect(c.Watch(cctx, nil, nil), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("watch with a cancelled ctx: %v, want context.Canceled", err)
	}
}

// Progress notifications come through when asked for, and only then.
func TestClientWatchProgress(t *testing.T) {
	db := openDB(t)
	srv := serve(t, db, Options{})
	c := newClient(t, []string{srv.URL}, ClientOptions{})
	r := put(t, db, "elsewhere", "x")
	next, stop := pull(func(ctx context.Context) watchSeq {
		return c.Watch(ctx, []byte("quiet/"), yggr.PrefixEnd([]byte("quiet/")), yggr.WithProgressNotify(MinWatchProgress))
	})
	defer stop()
	if ch, err := next(); err != nil || !ch.IsProgress() || ch.Revision < r {
		t.Fatalf("on a quiet range: %+v, %v; want progress at ≥ %d", ch, err, r)
	}
}

// A client whose endpoints include a dead one watches through the live one.
func TestClientWatchSkipsDeadEndpoint(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{})
	c := newClient(t, []string{deadAddr(t), srv.URL}, ClientOptions{})
	r := put(t, db, "k", "v")
	got, err := collect(c.Watch(ctx, []byte("k"), nil, yggr.FromRevision(r)), 1)
	if err != nil || len(got) != 1 || got[0].Revision != r {
		t.Fatalf("watch: %+v, %v; want the change at %d", got, err, r)
	}
}

// List, then watch: a scan says its revision, and a watch from the next
// one yields exactly the changes made after the scan.
func TestClientListThenWatch(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{})
	c := newClient(t, []string{srv.URL}, ClientOptions{})
	put(t, db, "p/a", "1")
	last := put(t, db, "p/b", "2")
	put(t, db, "q", "outside") // after the last p/ write, before the scan
	list, err := c.Scan(ctx, ScanRequest{Prefix: []byte("p/")})
	if err != nil || len(list.Items) != 2 || list.Revision < last+1 {
		t.Fatalf("scan: %+v, %v; want two items read at revision ≥ %d", list, err, last+1)
	}
	r1 := put(t, db, "p/a", "3")
	got, err := collect(c.Watch(ctx, []byte("p/"), yggr.PrefixEnd([]byte("p/")), yggr.FromRevision(list.Revision+1)), 1)
	if err != nil || len(got) != 1 || got[0].Revision != r1 || string(got[0].Events[0].Item.Value) != "3" {
		t.Fatalf("watch from the scan's revision + 1: %+v, %v; want only the change at %d", got, err, r1)
	}
}

// A stub watch server: the i-th request (from 0) gets bodies[i] as a 200
// NDJSON stream, and its from parameter is recorded.
func stubWatch(t *testing.T, bodies ...string) (*httptest.Server, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var froms []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := len(froms)
		froms = append(froms, r.URL.Query().Get("from"))
		mu.Unlock()
		if i >= len(bodies) {
			writeErrorCode(w, http.StatusBadRequest, CodeInvalid, "no more bodies")
			return
		}
		w.Header().Set("Content-Type", ContentTypeNDJSON)
		io.WriteString(w, bodies[i])
	}))
	t.Cleanup(srv.Close)
	return srv, &froms
}

func TestClientWatchStreamHandling(t *testing.T) {
	change := func(rev uint64) string {
		return fmt.Sprintf(`{"revision":%d,"events":[{"type":"put","item":{"key":"aw==","value":"dg==","mod_index":%d,"create_index":1,"version":1}}]}`+"\n", rev, rev)
	}
	start := func(rev uint64) string { return fmt.Sprintf(`{"revision":%d,"progress":true}`+"\n", rev) }
	tests := []struct {
		name      string
		bodies    []string
		wantRevs  []uint64
		wantFroms []string
		check     func(error) bool
	}{
		{"a cut mid-line resumes after the last whole line",
			[]string{start(0) + change(1) + change(2) + `{"revision":3,"ev`, start(2) + change(3) + change(4)},
			[]uint64{1, 2, 3, 4}, []string{"1", "3"}, func(err error) bool { return err == nil }},
		{"a closed line resumes; progress moves the resume point",
			[]string{start(0) + change(1) + `{"revision":5,"progress":true}` + "\n" + `{"error":{"status":503,"code":"closed","message":"bye"}}` + "\n", start(5) + change(7)},
			[]uint64{1, 7}, []string{"1", "6"}, func(err error) bool { return err == nil }},
		{"compacted mid-stream",
			[]string{start(0) + change(1) + `{"error":{"status":410,"code":"compacted","message":"gone","oldest":9}}` + "\n"},
			[]uint64{1}, []string{"1"}, func(err error) bool {
				var cerr *yggr.CompactedError
				return errors.As(err, &cerr) && cerr.Requested == 2 && cerr.Oldest == 9
			}},
		{"another error ends it",
			[]string{start(0) + `{"error":{"status":500,"code":"internal","message":"boom"}}` + "\n"},
			nil, []string{"1"}, func(err error) bool {
				var api *APIError
				return errors.As(err, &api) && api.StatusCode == 500 && api.Code == CodeInternal
			}},
		{"a start line elsewhere", []string{start(4)}, nil, []string{"1"},
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "started with revision 4") }},
		{"a revision going back", []string{start(0) + change(2) + change(2)}, []uint64{2}, []string{"1"},
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "went back") }},
		{"garbage", []string{start(0) + "not json\n"}, nil, []string{"1"},
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "bad watch line") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, froms := stubWatch(t, tt.bodies...)
			c := newClient(t, []string{srv.URL}, ClientOptions{})
			var revs []uint64
			var err error
			for ch, e := range c.Watch(testCtx(t), nil, nil, yggr.FromRevision(1)) {
				if err = e; e != nil {
					break
				}
				revs = append(revs, ch.Revision)
				if len(revs) == len(tt.wantRevs) && tt.check(nil) {
					break
				}
			}
			if !tt.check(err) || !cmp.Equal(revs, tt.wantRevs) || !cmp.Equal((*froms)[:len(tt.wantFroms)], tt.wantFroms) {
				t.Fatalf("got revisions %v, error %v, requests from %v; want %v, from %v", revs, err, *froms, tt.wantRevs, tt.wantFroms)
			}
		})
	}
}
