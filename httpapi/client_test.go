package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/internal/freeport"
)

// newClient returns a client of endpoints, closed when the test ends.
func newClient(t *testing.T, endpoints []string, opts ClientOptions) *Client {
	t.Helper()
	c, err := NewClient(endpoints, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// deadAddr returns a loopback address nothing listens on, below the
// ephemeral range, so no other socket takes it meanwhile.
func deadAddr(t *testing.T) string {
	t.Helper()
	addrs, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	return addrs[0]
}

func TestClientAgainstHandler(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{Token: "tok", Limits: yggr.Limits{MaxValueBytes: 1024}})
	c := newClient(t, []string{srv.URL}, ClientOptions{Token: "tok"})

	// Keys and values of every shape round-trip.
	for _, k := range testKeys {
		value := []byte("v\x00" + k)
		index, err := c.Put(ctx, []byte(k), value)
		if err != nil {
			t.Fatalf("Put %q: %v", k, err)
		}
		for _, opts := range [][]yggr.ReadOption{nil, {yggr.WithConsistency(yggr.Linearizable)}, {yggr.WithConsistency(yggr.Stale), yggr.AtLeast(index)}} {
			got, modIndex, err := c.Get(ctx, []byte(k), opts...)
			if err != nil || !bytes.Equal(got, value) || modIndex != index {
				t.Errorf("Get %q (%v) = %q, %d, %v; want %q, %d", k, yggr.ReadSettingsOf(opts...), got, modIndex, err, value, index)
			}
		}
	}
	if _, err := c.Put(ctx, []byte("empty"), nil); err != nil {
		t.Errorf("Put of an empty value: %v", err)
	}
	if got, _, err := c.Get(ctx, []byte("empty")); err != nil || len(got) != 0 {
		t.Errorf("Get of an empty value = %q, %v", got, err)
	}
	if _, deleted, err := c.Delete(ctx, []byte("empty")); err != nil || !deleted {
		t.Errorf("Delete = deleted %v, %v; want true", deleted, err)
	}
	if _, deleted, err := c.Delete(ctx, []byte("empty")); err != nil || deleted {
		t.Errorf("second Delete = deleted %v, %v; want false", deleted, err)
	}

	// Errors match the root package's sentinels.
	errTests := []struct {
		name string
		err  error
		want error
	}{
		{"missing key", second(c.Get(ctx, []byte("nope"))), yggr.ErrNotFound},
		{"bad consistency", second(c.Get(ctx, []byte("k"), yggr.WithConsistency(yggr.Consistency(9)))), yggr.ErrInvalid},
		{"lease disabled", second(c.Get(ctx, []byte("k"), yggr.WithConsistency(yggr.Lease))), yggr.ErrLeaseDisabled},
		{"empty key", first(c.Put(ctx, nil, []byte("v"))), yggr.ErrInvalid},
		{"value too large", first(c.Put(ctx, []byte("k"), make([]byte, 1025))), yggr.ErrTooLarge},
		{"bad limit", first(c.Scan(ctx, ScanRequest{Limit: -5})), yggr.ErrInvalid},
		{"bad txn", first(c.Txn(ctx, TxnRequest{Success: []TxnOp{{Op: "incr", Key: []byte("k")}}})), yggr.ErrInvalid},
		{"bad learner", c.AddLearner(ctx, "bad id", "127.0.0.1:1"), yggr.ErrInvalid},
		{"bad voter", c.AddVoter(ctx, "bad id", "127.0.0.1:1"), yggr.ErrInvalid},
		{"promote unknown", c.Promote(ctx, "n9"), yggr.ErrMembership},
		{"remove unknown", c.RemoveMember(ctx, "n9"), yggr.ErrMembership},
	}
	for _, tt := range errTests {
		var apiErr *APIError
		if !errors.Is(tt.err, tt.want) || !errors.As(tt.err, &apiErr) {
			t.Errorf("%s: err = %v, want an *APIError matching %v", tt.name, tt.err, tt.want)
		}
	}
	// The client refuses, without a request, what HTTP does not serve.
	if _, _, err := c.Get(ctx, []byte("k"), yggr.ReadRevision(new(uint64))); !errors.Is(err, yggr.ErrInvalid) {
		t.Errorf("Get with ReadRevision: err = %v, want ErrInvalid", err)
	}
	bad := newClient(t, []string{srv.URL}, ClientOptions{Token: "wrong"})
	if err := first(bad.Status(ctx)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong token: err = %v, want ErrUnauthorized", err)
	}

	// Scan pages through everything.
	var seen []string
	start := []byte(nil)
	for page := 0; page < 100; page++ {
		res, err := c.Scan(ctx, ScanRequest{Start: start, Limit: 3, Consistency: yggr.Stale})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			seen = append(seen, string(it.Key))
		}
		if !res.More {
			break
		}
		start = append(bytes.Clone(res.Items[len(res.Items)-1].Key), 0)
	}
	if len(seen) != len(testKeys) {
		t.Errorf("paged scan saw %d keys, want %d: %q", len(seen), len(testKeys), seen)
	}
	res, err := c.Scan(ctx, ScanRequest{Prefix: []byte("a/"), Start: []byte("a/a"), End: []byte("a/c")})
	if err != nil || len(res.Items) != 1 || string(res.Items[0].Key) != "a/b" {
		t.Errorf("prefix scan = %+v, %v; want a/b only", res, err)
	}

	tr, err := c.Txn(ctx, TxnRequest{
		Compare: []TxnCompare{{Key: []byte("simple"), Target: TargetValue, Value: []byte("v\x00simple")}},
		Success: []TxnOp{{Op: OpPut, Key: []byte("simple"), Value: []byte("swapped")}},
	})
	if err != nil || !tr.Succeeded {
		t.Errorf("CAS txn = %+v, %v; want succeeded", tr, err)
	}

	st, err := c.Status(ctx)
	if err != nil || st.Leader != "n1" || st.Commit == 0 {
		t.Errorf("Status = %+v, %v", st, err)
	}
	ms, err := c.Members(ctx)
	if diff := cmp.Diff([]yggr.Member{{ID: "n1", Voter: true}}, ms); err != nil || diff != "" {
		t.Errorf("Members: %v; (-want +got):\n%s", err, diff)
	}
	if index, err := c.Snapshot(ctx); err != nil || index < st.Applied {
		t.Errorf("Snapshot = %d, %v; want ≥ %d", index, err, st.Applied)
	}
	var buf bytes.Buffer
	n, err := c.Backup(ctx, &buf)
	if err != nil || n == 0 || int64(buf.Len()) != n {
		t.Errorf("Backup = %d, %v; wrote %d bytes", n, err, buf.Len())
	}
	if _, err := yggr.RestoreBackup(t.TempDir(), "n1", &buf); err != nil {
		t.Errorf("restoring the client's backup: %v", err)
	}
	text, err := c.Metrics(ctx)
	if err != nil || !strings.Contains(text, "yggr_is_leader 1") {
		t.Errorf("Metrics = %d bytes, %v; want yggr_is_leader 1", len(text), err)
	}
	if err := c.Healthz(ctx); err != nil {
		t.Errorf("Healthz: %v", err)
	}
	if err := c.Readyz(ctx); err != nil {
		t.Errorf("Readyz: %v", err)
	}
}

func first[T any](_ T, err error) error { return err }

func second[A, B any](_ A, _ B, err error) error { return err }

// stub is a test server answering every request with status and code,
// counting requests.
func stub(t *testing.T, status int, code string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		writeErrorCode(w, status, code, "stub")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// hangUp is a test server that reads each request and closes its
// connection without an answer, counting requests.
func hangUp(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestClientFailover(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{})
	live := strings.TrimPrefix(srv.URL, "http://")

	t.Run("first endpoint dead", func(t *testing.T) {
		c := newClient(t, []string{deadAddr(t), live}, ClientOptions{})
		if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
			t.Fatalf("Put: %v", err)
		}
		// A transaction whose dial failed is safe to send elsewhere too.
		if _, err := c.Txn(ctx, TxnRequest{Success: []TxnOp{{Op: OpGet, Key: []byte("k")}}}); err != nil {
			t.Fatalf("Txn: %v", err)
		}
	})
	t.Run("first endpoint has no leader", func(t *testing.T) {
		noLeader, hits := stub(t, http.StatusServiceUnavailable, CodeNoLeader)
		c := newClient(t, []string{noLeader.URL, live}, ClientOptions{})
		if _, err := c.Txn(ctx, TxnRequest{Success: []TxnOp{{Op: OpPut, Key: []byte("k"), Value: []byte("w")}}}); err != nil {
			t.Fatalf("Txn: %v", err)
		}
		if got, _, err := c.Get(ctx, []byte("k")); err != nil || string(got) != "w" {
			t.Fatalf("Get = %q, %v; want w", got, err)
		}
		if hits.Load() != 1 {
			t.Errorf("the 503 endpoint got %d requests, want 1 (the client sticks to the one that answered)", hits.Load())
		}
	})
	t.Run("all endpoints dead", func(t *testing.T) {
		c := newClient(t, []string{deadAddr(t), deadAddr(t)}, ClientOptions{})
		_, err := c.Put(ctx, []byte("k"), []byte("v"))
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
		// The last transport error stays in the chain, as documented.
		var opErr *net.OpError
		if !errors.As(err, &opErr) {
			t.Errorf("err = %v, want the connection error wrapped too", err)
		}
	})
	t.Run("all endpoints without leader", func(t *testing.T) {
		// Every request follows one policy (retry.go): a node answers
		// no_leader only after its runtime followed leader changes for its
		// whole budget, so each endpoint is asked once, a put too.
		a, hitsA := stub(t, http.StatusServiceUnavailable, CodeNoLeader)
		b, hitsB := stub(t, http.StatusServiceUnavailable, CodeNoLeader)
		c := newClient(t, []string{a.URL, b.URL}, ClientOptions{})
		_, err := c.Put(ctx, []byte("k"), []byte("v"))
		if !errors.Is(err, yggr.ErrNoLeader) || errors.Is(err, ErrUnavailable) || errors.Is(err, yggr.ErrUnknownOutcome) {
			t.Errorf("err = %v, want ErrNoLeader", err)
		}
		if hitsA.Load() != 1 || hitsB.Load() != 1 {
			t.Errorf("%d+%d attempts, want 1+1 (no endpoint asked again after no_leader)", hitsA.Load(), hitsB.Load())
		}
		hitsA.Store(0)
		hitsB.Store(0)
		if _, _, err := c.Get(ctx, []byte("k")); !errors.Is(err, yggr.ErrNoLeader) || hitsA.Load() != 1 || hitsB.Load() != 1 {
			t.Errorf("Get: err = %v after %d+%d attempts, want ErrNoLeader after 1+1", err, hitsA.Load(), hitsB.Load())
		}
	})
	t.Run("write not resent after a broken connection", func(t *testing.T) {
		// The request was sent: it may have been applied, so only an
		// idempotent one goes on to the next endpoint.
		put(t, db, "k", "w")
		broken, hits := hangUp(t)
		c := newClient(t, []string{broken.URL, live}, ClientOptions{})
		writes := map[string]func() error{
			"Put":    func() error { return first(c.Put(ctx, []byte("k"), []byte("z"))) },
			"Delete": func() error { return second(c.Delete(ctx, []byte("k"))) },
			"Txn": func() error {
				return first(c.Txn(ctx, TxnRequest{Success: []TxnOp{{Op: OpPut, Key: []byte("k"), Value: []byte("z")}}}))
			},
			"Grant":  func() error { return first(c.Grant(ctx, time.Minute)) },
			"Revoke": func() error { return c.Revoke(ctx, 12345) },
		}
		for name, write := range writes {
			hits.Store(0)
			c.mu.Lock()
			c.preferred = 0
			c.mu.Unlock()
			if err := write(); !errors.Is(err, yggr.ErrUnknownOutcome) || hits.Load() != 1 {
				t.Errorf("%s: err = %v after %d requests to the broken endpoint, want ErrUnknownOutcome after 1", name, err, hits.Load())
			}
		}
		if got, _, err := c.Get(ctx, []byte("k")); err != nil || string(got) != "w" {
			t.Errorf("Get = %q, %v; want w, the put of z never resent to the live endpoint", got, err)
		}
		c.mu.Lock()
		c.preferred = 0
		c.mu.Unlock()
		hits.Store(0)
		if _, err := c.Status(ctx); err != nil || hits.Load() != 1 {
			t.Errorf("Status past a broken endpoint: %v after %d requests to it, want success after 1", err, hits.Load())
		}
	})
	t.Run("write not resent after no_leader or not_leader", func(t *testing.T) {
		// The node answering these followed the leader itself
		// (internal/node/route.go): the client sends the write to it once,
		// and once to each other endpoint, not twice each.
		for _, tc := range []struct {
			code string
			want error
		}{{CodeNoLeader, yggr.ErrNoLeader}, {CodeNotLeader, yggr.ErrNotLeader}} {
			a, hitsA := stub(t, http.StatusServiceUnavailable, tc.code)
			c := newClient(t, []string{a.URL}, ClientOptions{})
			txn := TxnRequest{Success: []TxnOp{{Op: OpPut, Key: []byte("k"), Value: []byte("y")}}}
			if _, err := c.Txn(ctx, txn); !errors.Is(err, tc.want) || hitsA.Load() != 1 {
				t.Errorf("%s, one endpoint: err = %v after %d requests, want %v after 1", tc.code, err, hitsA.Load(), tc.want)
			}
			b, hitsB := stub(t, http.StatusServiceUnavailable, tc.code)
			c = newClient(t, []string{a.URL, b.URL}, ClientOptions{})
			hitsA.Store(0)
			if _, err := c.Txn(ctx, txn); !errors.Is(err, tc.want) || hitsA.Load() != 1 || hitsB.Load() != 1 {
				t.Errorf("%s, two endpoints: err = %v after %d+%d requests, want %v after 1+1",
					tc.code, err, hitsA.Load(), hitsB.Load(), tc.want)
			}
		}
	})
	t.Run("txn resent after busy", func(t *testing.T) {
		// The runtime does not retry a busy refusal: the client's two
		// passes still apply.
		busy, hits := stub(t, http.StatusServiceUnavailable, CodeBusy)
		c := newClient(t, []string{busy.URL}, ClientOptions{})
		txn := TxnRequest{Success: []TxnOp{{Op: OpPut, Key: []byte("k"), Value: []byte("y")}}}
		if _, err := c.Txn(ctx, txn); !errors.Is(err, yggr.ErrBusy) || hits.Load() != 2 {
			t.Errorf("err = %v after %d requests, want ErrBusy after 2", err, hits.Load())
		}
	})
	t.Run("txn not resent after an ambiguous 503", func(t *testing.T) {
		closing, hits := stub(t, http.StatusServiceUnavailable, CodeClosed)
		c := newClient(t, []string{closing.URL, live}, ClientOptions{})
		_, err := c.Txn(ctx, TxnRequest{Success: []TxnOp{{Op: OpPut, Key: []byte("k"), Value: []byte("x")}}})
		if !errors.Is(err, yggr.ErrClosed) || !errors.Is(err, yggr.ErrUnknownOutcome) || hits.Load() != 1 {
			t.Errorf("err = %v after %d attempts, want ErrClosed and ErrUnknownOutcome after 1", err, hits.Load())
		}
	})
	t.Run("other errors are not retried", func(t *testing.T) {
		notFound, hits := stub(t, http.StatusNotFound, CodeNotFound)
		c := newClient(t, []string{notFound.URL, live}, ClientOptions{})
		if _, _, err := c.Get(ctx, []byte("k")); !errors.Is(err, yggr.ErrNotFound) || hits.Load() != 1 {
			t.Errorf("err = %v after %d attempts, want ErrNotFound after 1", err, hits.Load())
		}
	})
	t.Run("readyz 503 is the answer", func(t *testing.T) {
		unready, hits := stub(t, http.StatusServiceUnavailable, CodeNoLeader)
		c := newClient(t, []string{unready.URL, live}, ClientOptions{})
		if err := c.Readyz(ctx); !errors.Is(err, yggr.ErrNoLeader) || hits.Load() != 1 {
			t.Errorf("err = %v after %d attempts, want ErrNoLeader after 1", err, hits.Load())
		}
	})
}

func TestClientTimeout(t *testing.T) {
	ctx := testCtx(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(t, []string{srv.URL}, ClientOptions{Timeout: 50 * time.Millisecond})
	start := time.Now()
	if _, err := c.Put(ctx, []byte("k"), []byte("v")); !errors.Is(err, yggr.ErrTimeout) || !errors.Is(err, yggr.ErrUnknownOutcome) {
		t.Errorf("err = %v, want ErrTimeout and ErrUnknownOutcome (the put may have been applied)", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timed out after %v, want about 50ms", d)
	}
}

func TestClientBackupCutShort(t *testing.T) {
	ctx := testCtx(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", HeaderIndex)
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("partial backup"))
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}))
	defer srv.Close()
	c := newClient(t, []string{srv.URL}, ClientOptions{})
	var buf bytes.Buffer
	if _, err := c.Backup(ctx, &buf); err == nil {
		t.Errorf("a backup cut short returned no error (%d bytes)", buf.Len())
	}
}

func TestNewClientEndpoints(t *testing.T) {
	tests := []struct {
		endpoints []string
		tls       bool
		want      []string // base URLs; nil: an error
	}{
		{[]string{"127.0.0.1:7070"}, false, []string{"http://127.0.0.1:7070"}},
		{[]string{"127.0.0.1:7070", " [::1]:7070 "}, true, []string{"https://127.0.0.1:7070", "https://[::1]:7070"}},
		{[]string{"http://127.0.0.1:7070/"}, false, []string{"http://127.0.0.1:7070"}},
		{[]string{"https://127.0.0.1:7070/yggr/"}, false, []string{"https://127.0.0.1:7070/yggr"}},
		{nil, false, nil},
		{[]string{"ftp://127.0.0.1:21"}, false, nil},
		{[]string{"http://"}, false, nil},
		{[]string{"http://127.0.0.1:1/?x=1"}, false, nil},
		{[]string{"%zz"}, false, nil},
	}
	for _, tt := range tests {
		opts := ClientOptions{}
		if tt.tls {
			opts.TLS = &tls.Config{}
		}
		c, err := NewClient(tt.endpoints, opts)
		if tt.want == nil {
			if err == nil {
				t.Errorf("NewClient(%q) succeeded, want an error", tt.endpoints)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewClient(%q): %v", tt.endpoints, err)
			continue
		}
		var got []string
		for _, u := range c.endpoints {
			got = append(got, u.String())
		}
		c.Close()
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("NewClient(%q) endpoints (-want +got):\n%s", tt.endpoints, diff)
		}
	}
}

func TestAPIErrorIs(t *testing.T) {
	sentinels := []error{
		yggr.ErrNotFound, yggr.ErrInvalid, yggr.ErrLeaseDisabled, yggr.ErrTooLarge, yggr.ErrTimeout,
		yggr.ErrMembership, yggr.ErrTransfer, yggr.ErrNoLeader, yggr.ErrNotLeader, yggr.ErrBusy,
		yggr.ErrClosed, yggr.ErrDropped, yggr.ErrUnknownOutcome, yggr.ErrCorrupt,
		yggr.ErrLeaseNotFound, yggr.ErrLeaseTTL,
	}
	// What the handler sends for a root error, the client maps back.
	for _, s := range sentinels {
		status, code := classify(s)
		e := &APIError{StatusCode: status, Code: code}
		if !errors.Is(e, s) {
			t.Errorf("%v → %d %s: the client's error does not match it", s, status, code)
		}
		for _, other := range sentinels {
			if other != s && errors.Is(e, other) && !((s == yggr.ErrLeaseDisabled || s == yggr.ErrLeaseTTL) && other == yggr.ErrInvalid) {
				t.Errorf("%v → %d %s also matches %v", s, status, code, other)
			}
		}
	}
	// A write whose outcome is unknown is not a server error: 504, the
	// status of the other "may still be applied" answers.
	if status, code := classify(fmt.Errorf("%w: leader n2 changed while forwarding", yggr.ErrUnknownOutcome)); status != http.StatusGatewayTimeout || code != CodeUnknownOutcome {
		t.Errorf("ErrUnknownOutcome → %d %s, want 504 %s", status, code, CodeUnknownOutcome)
	}
	if status, _ := classify(&yggr.NotLeaderError{Leader: "n2"}); status != http.StatusServiceUnavailable {
		t.Errorf("NotLeaderError → %d, want 503", status)
	}
	if status, code := classify(errors.New("something else")); status != 500 || code != CodeInternal {
		t.Errorf("unknown error → %d %s, want 500 internal", status, code)
	}
}

// TestClientCtxDeadlineBeforeTimeout: an attempt whose ctx ends before
// ClientOptions.Timeout would has no timer of its own; the call ends with
// ctx's error, and a stream (a watch, a backup) runs as long as ctx
// allows without one.
func TestClientCtxDeadlineBeforeTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	c := newClient(t, []string{slow.URL}, ClientOptions{Timeout: time.Hour})
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Put(ctx, []byte("k"), []byte("v")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Put past ctx's deadline: err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Put returned after %v, want about 50ms", d)
	}

	db := openDB(t)
	srv := serve(t, db, Options{})
	c = newClient(t, []string{srv.URL}, ClientOptions{Timeout: time.Hour})
	ctx = testCtx(t) // 30s: before the Timeout
	put(t, db, "p/a", "1")
	got, err := collect(c.Watch(ctx, []byte("p/"), yggr.PrefixEnd([]byte("p/")), yggr.FromRevision(1)), 1)
	if err != nil || len(got) != 1 || string(got[0].Events[0].Item.Key) != "p/a" {
		t.Errorf("watch under a ctx deadline: %+v, %v; want the put of p/a", got, err)
	}
	var buf bytes.Buffer
	if n, err := c.Backup(ctx, &buf); err != nil || n == 0 {
		t.Errorf("backup under a ctx deadline: %d bytes, %v", n, err)
	}
}

// Client.List answers as DB.List does on the node it asks: the same items
// (values, indexes), the same "more", and the revision through
// yggr.ReadRevision; limit ≤ 0 is one page of the server's default size.
func TestClientListAsDB(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{})
	c := newClient(t, []string{srv.URL}, ClientOptions{})
	var last uint64
	for i := range 12 {
		index, err := c.Put(ctx, fmt.Appendf(nil, "list/%02d", i), fmt.Appendf(nil, "v%d", i))
		if err != nil {
			t.Fatal(err)
		}
		last = index
	}
	for _, tt := range []struct {
		start, end string
		limit      int
		opts       []yggr.ReadOption
	}{
		{"list/", "list/99", 5, nil},
		{"list/03", "list/07", 0, []yggr.ReadOption{yggr.WithConsistency(yggr.Stale), yggr.AtLeast(last)}},
		{"list/", "", -1, []yggr.ReadOption{yggr.WithConsistency(yggr.Linearizable)}},
		{"none/", "none0", 3, nil},
	} {
		var dbRev, clRev uint64
		want, wantMore, err := db.List(ctx, []byte(tt.start), []byte(tt.end), tt.limit, append(tt.opts, yggr.ReadRevision(&dbRev))...)
		if err != nil {
			t.Fatal(err)
		}
		got, more, err := c.List(ctx, []byte(tt.start), []byte(tt.end), tt.limit, append(tt.opts, yggr.ReadRevision(&clRev))...)
		if err != nil {
			t.Fatalf("List(%q, %q, %d): %v", tt.start, tt.end, tt.limit, err)
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" || more != wantMore {
			t.Errorf("List(%q, %q, %d): more %v, want %v; items (-db +client):\n%s", tt.start, tt.end, tt.limit, more, wantMore, diff)
		}
		if clRev != dbRev || clRev < last {
			t.Errorf("List(%q, %q, %d): revision %d, DB.List's %d (last write %d)", tt.start, tt.end, tt.limit, clRev, dbRev, last)
		}
	}
}
