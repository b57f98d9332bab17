package httpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"github.com/yggrdb/yggr/internal/testutil"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/concurrency"
)

func grant(t *testing.T, db *yggr.DB) yggr.LeaseID {
	t.Helper()
	id, err := db.Grant(testCtx(t), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func lockKeys(t *testing.T, db *yggr.DB, name string) int {
	t.Helper()
	items, _, err := db.List(testCtx(t), []byte(name+"/"), yggr.PrefixEnd([]byte(name+"/")), 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(items)
}

// Locks over HTTP: held until unlocked, waiting longer than the request
// timeouts, tokens growing, a lost lock and bad input reported.
func TestLockHTTP(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{RequestTimeout: 200 * time.Millisecond})
	// c's and srv's timeouts are short, for the Locks, which must wait
	// past them. The other calls (unlocks, writes) go through w and a
	// server with the default timeouts: on a loaded machine one of them
	// may take over 200 ms.
	c := newClient(t, []string{srv.URL}, ClientOptions{Timeout: 200 * time.Millisecond})
	w := newClient(t, []string{serve(t, db, Options{}).URL}, ClientOptions{})
	la, lb := grant(t, db), grant(t, db)

	a, err := c.Lock(ctx, "jobs/report", la)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "jobs/report" || a.Lease != uint64(la) || a.Token == 0 || !strings.HasPrefix(string(a.Key), "jobs/report/") {
		t.Fatalf("Lock = %+v", a)
	}
	got := make(chan LockKey, 1)
	errs := make(chan error, 1)
	go func() {
		k, err := c.Lock(ctx, "jobs/report", lb)
		if err != nil {
			errs <- err
			return
		}
		got <- k
	}()
	// b waits past both the server's and the client's timeouts.
	select {
	case k := <-got:
		t.Fatalf("second Lock returned %+v while the lock was held", k)
	case err := <-errs:
		t.Fatalf("second Lock failed while waiting: %v", err)
	case <-time.After(600 * time.Millisecond):
	}
	if err := w.Unlock(ctx, a); err != nil {
		t.Fatal(err)
	}
	var b LockKey
	select {
	case b = <-got:
	case err := <-errs:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("second Lock never returned")
	}
	if b.Token <= a.Token {
		t.Errorf("second holder's token %d, want above %d", b.Token, a.Token)
	}
	if err := w.Unlock(ctx, a); !errors.Is(err, concurrency.ErrLockLost) {
		t.Errorf("Unlock of a released lock: %v, want ErrLockLost", err)
	}

	// A waiter that gives up leaves no key.
	wctx, cancel := context.WithCancel(ctx)
	res := make(chan error, 1)
	go func() { _, err := c.Lock(wctx, "jobs/report", la); res <- err }()
	testutil.WaitFor(t, "the waiter to queue", func() bool { return lockKeys(t, db, "jobs/report") == 2 })
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Lock: %v, want context.Canceled", err)
	}
	testutil.WaitFor(t, "the cancelled waiter's key to go", func() bool { return lockKeys(t, db, "jobs/report") == 1 })

	// A write fenced by the lock: applied while b holds it.
	fenced := TxnRequest{Compare: []TxnCompare{{Key: b.Key, Target: TargetCreateIndex, CreateIndex: b.Token}},
		Success: []TxnOp{{Op: OpPut, Key: []byte("report"), Value: []byte("b")}}}
	if res, err := w.Txn(ctx, fenced); err != nil || !res.Succeeded {
		t.Fatalf("fenced write of the holder: %+v, %v", res, err)
	}
	// The holder's lease ends: the lock is lost.
	if err := db.Revoke(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if res, err := w.Txn(ctx, fenced); err != nil || res.Succeeded {
		t.Errorf("fenced write after the lock was lost: %+v, %v; want it refused", res, err)
	}
	if err := w.Unlock(ctx, b); !errors.Is(err, concurrency.ErrLockLost) {
		t.Errorf("Unlock after the lease was revoked: %v, want ErrLockLost", err)
	}
	if _, err := c.Lock(ctx, "jobs/report", lb); !errors.Is(err, yggr.ErrLeaseNotFound) {
		t.Errorf("Lock with a revoked lease: %v, want ErrLeaseNotFound", err)
	}

	for _, tc := range []struct {
		path, body string
		status     int
	}{
		{"/v1/lock", `{"name":"x","lease":0}`, 400},
		{"/v1/lock", `{"name":"","lease":5}`, 400},
		{"/v1/lock", `{"name":"` + strings.Repeat("n", 4096) + `","lease":5}`, 413},
		{"/v1/lock", `{"name":"x","lease":5,"extra":1}`, 400},
		{"/v1/lock", `{"name":"x","lease":5} {}`, 400},
		{"/v1/lock", `[`, 400},
		{"/v1/unlock", `{"name":"x","key":"eC95","token":3,"lease":5}`, 400}, // not a lock key
		{"/v1/unlock", `{"name":"jobs/report","key":"` + base64.StdEncoding.EncodeToString(a.Key) + `","token":0,"lease":5}`, 400},
	} {
		r := send(t, srv, http.MethodPost, tc.path, strings.NewReader(tc.body), nil)
		if r.status != tc.status {
			t.Errorf("POST %s %s: status %d (%s), want %d", tc.path, tc.body, r.status, r.body, tc.status)
		}
	}
}

// Elections over HTTP: campaign, leader, observe, proclaim, resign.
func TestElectionHTTP(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{})
	c := newClient(t, []string{srv.URL}, ClientOptions{})
	la, lb := grant(t, db), grant(t, db)
	const name = "elections/sched"

	if _, err := c.Leader(ctx, name); !errors.Is(err, concurrency.ErrNoLeader) {
		t.Fatalf("Leader of an empty election: %v, want ErrNoLeader", err)
	}
	octx, stop := context.WithCancel(ctx)
	defer stop()
	observed := make(chan ElectionLeader, 16)
	obsErr := make(chan error, 1)
	go func() {
		for l, err := range c.Observe(octx, name) {
			if err != nil {
				obsErr <- err
				return
			}
			observed <- l
		}
	}()
	next := func() ElectionLeader {
		t.Helper()
		select {
		case l := <-observed:
			return l
		case err := <-obsErr:
			t.Fatalf("Observe ended: %v", err)
		case <-ctx.Done():
			t.Fatal("Observe yielded nothing")
		}
		return ElectionLeader{}
	}

	a, err := c.Campaign(ctx, name, la, []byte("a1"))
	if err != nil {
		t.Fatal(err)
	}
	if l := next(); string(l.Value) != "a1" || l.Rev != a.Rev {
		t.Fatalf("observed %+v, want a1 at %d", l, a.Rev)
	}
	won := make(chan LeaderKey, 1)
	go func() {
		b, err := c.Campaign(ctx, name, lb, nil)
		if err != nil {
			t.Error(err)
		}
		won <- b
	}()
	testutil.WaitFor(t, "b to campaign", func() bool { return lockKeys(t, db, name) == 2 })
	if err := c.Proclaim(ctx, a, []byte("a2")); err != nil {
		t.Fatal(err)
	}
	if l := next(); string(l.Value) != "a2" {
		t.Fatalf("observed %+v, want a2", l)
	}
	if l, err := c.Leader(ctx, name); err != nil || string(l.Value) != "a2" || string(l.Key) != string(a.Key) {
		t.Fatalf("Leader = %+v, %v; want a with a2", l, err)
	}
	if err := c.Resign(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := <-won
	if l := next(); l.Rev != b.Rev || len(l.Value) != 0 {
		t.Fatalf("observed %+v, want b (empty value) at %d", l, b.Rev)
	}
	if err := c.Proclaim(ctx, a, []byte("a3")); !errors.Is(err, concurrency.ErrNotElected) {
		t.Errorf("Proclaim by a resigned leader: %v, want ErrNotElected", err)
	}
	if err := c.Resign(ctx, a); err != nil {
		t.Errorf("Resign by a resigned leader: %v", err)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/v1/election/leader", "", 400},
		{"GET", "/v1/election/leader?name=a&name=b", "", 400},
		{"GET", "/v1/election/leader?name=a&x=1", "", 400},
		{"GET", "/v1/election/leader?name=%zz", "", 400},
		{"GET", "/v1/election/observe?x=1", "", 400},
		{"POST", "/v1/election/campaign", `{"name":"e","lease":0}`, 400},
		{"POST", "/v1/election/proclaim", `{"leader":{"name":"e","key":"eA==","rev":1,"lease":5}}`, 400},
		{"POST", "/v1/election/resign", `{"leader":{"name":"","key":"eA==","rev":1,"lease":5}}`, 400},
		{"POST", "/v1/election/resign", `{"leader":5}`, 400},
	} {
		var body *strings.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		} else {
			body = strings.NewReader("")
		}
		r := send(t, srv, tc.method, tc.path, body, nil)
		if r.status != tc.status {
			t.Errorf("%s %s %s: status %d (%s), want %d", tc.method, tc.path, tc.body, r.status, r.body, tc.status)
		}
	}
	stop()
	select {
	case err := <-obsErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Observe after its context ended: %v, want context.Canceled", err)
		}
	case <-ctx.Done():
		t.Fatal("Observe did not end with its context")
	}
}

// FuzzCoordRequests: the lock and election request decoders never panic
// and refuse what they cannot use with a 400 or 413.
func FuzzCoordRequests(f *testing.F) {
	for _, s := range []string{`{"name":"x","lease":5}`, `{"name":"x","key":"eA==","token":3,"lease":5}`,
		`{"leader":{"name":"e","key":"eA==","rev":1,"lease":5},"value":"dg=="}`, `{"name":"e","lease":1,"value":null}`, `[`, `{}`, ``} {
		f.Add([]byte(s))
	}
	h := &handler{opts: Options{}.withDefaults()}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []any{&LockRequest{}, &LockKey{}, &CampaignRequest{}, &ProclaimRequest{}, &ResignRequest{}} {
			err := decodeStrict(strings.NewReader(string(b)), v, "JSON body")
			if err != nil {
				if status, _ := classify(err); status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
					t.Fatalf("decoding %q into %T: %v classified %d", b, v, err, status)
				}
			}
		}
		if _, err := h.nameQuery(string(b)); err != nil {
			if status, _ := classify(err); status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
				t.Fatalf("query %q: %v classified %d", b, err, status)
			}
		}
	})
}

// The election routes' failures: a revoked lease, a value too large, a
// campaign that gives up, a stream ended by the server's shutdown.
func TestElectionHTTPFailures(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	shutdown := make(chan struct{})
	srv := serve(t, db, Options{Limits: yggr.Limits{MaxValueBytes: 8}, Shutdown: shutdown})
	c := newClient(t, []string{srv.URL}, ClientOptions{})
	la, gone := grant(t, db), grant(t, db)
	if err := db.Revoke(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Campaign(ctx, "e", gone, []byte("v")); !errors.Is(err, yggr.ErrLeaseNotFound) {
		t.Errorf("Campaign with a revoked lease: %v, want ErrLeaseNotFound", err)
	}
	if _, err := c.Campaign(ctx, "e", la, []byte("123456789")); !errors.Is(err, yggr.ErrTooLarge) {
		t.Errorf("Campaign with a value over the limit: %v, want ErrTooLarge", err)
	}
	a, err := c.Campaign(ctx, "e", la, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Proclaim(ctx, a, []byte("123456789")); !errors.Is(err, yggr.ErrTooLarge) {
		t.Errorf("Proclaim with a value over the limit: %v, want ErrTooLarge", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Campaign(cctx, "e", grant(t, db), []byte("b")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Campaign past its deadline: %v, want context.DeadlineExceeded", err)
	}
	testutil.WaitFor(t, "the given-up candidacy to go", func() bool { return lockKeys(t, db, "e") == 1 })

	got := make(chan error, 1)
	go func() {
		for _, err := range c.Observe(ctx, "e") {
			if err != nil {
				got <- err
				return
			}
			close(shutdown) // after the first leader line
		}
	}()
	select {
	case err := <-got:
		if !errors.Is(err, yggr.ErrClosed) {
			t.Errorf("Observe when the server shuts down: %v, want ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("Observe did not end when the server shut down")
	}
}
