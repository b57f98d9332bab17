package httpapi

import (
	"context"
	"errors"
	"github.com/yggrdb/yggr/internal/testutil"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr"
)

// TestClientLeases drives every lease method of the Client against the
// handler and checks each answer against the library's for the same lease.
func TestClientLeases(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{})
	c := newClient(t, []string{srv.URL}, ClientOptions{})

	id, err := c.Grant(ctx, time.Minute)
	if err != nil || id == 0 {
		t.Fatalf("Grant = %d, %v", id, err)
	}
	for _, k := range []string{"svc/b", "svc/a"} {
		if _, err := c.Put(ctx, []byte(k), []byte("v"), yggr.WithLease(id)); err != nil {
			t.Fatalf("Put %s with WithLease: %v", k, err)
		}
	}
	if _, err := c.Put(ctx, []byte("plain"), nil, yggr.WithLease(0)); err != nil {
		t.Fatalf("Put with WithLease(0): %v", err)
	}
	ttl, err := c.KeepAlive(ctx, id)
	if err != nil || ttl != time.Minute {
		t.Errorf("KeepAlive = %v, %v; want 1m", ttl, err)
	}

	got, err := c.TimeToLive(ctx, id)
	if err != nil {
		t.Fatalf("TimeToLive: %v", err)
	}
	want, err := db.TimeToLive(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.TTL != want.TTL || !cmp.Equal(got.Keys, want.Keys) {
		t.Errorf("Client.TimeToLive = %+v, DB.TimeToLive = %+v", got, want)
	}
	if got.Remaining <= 0 || got.Remaining > time.Minute || got.Remaining%time.Millisecond != 0 {
		t.Errorf("Remaining = %v, want whole milliseconds in (0, 1m]", got.Remaining)
	}
	if diff := cmp.Diff([][]byte{[]byte("svc/a"), []byte("svc/b")}, got.Keys); diff != "" {
		t.Errorf("TimeToLive keys (-want +got):\n%s", diff)
	}
	ls, err := c.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantLs, err := db.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantLs, ls); diff != "" || len(ls) != 1 {
		t.Errorf("Client.Leases vs DB.Leases (-db +client):\n%s", diff)
	}

	if err := c.Revoke(ctx, id); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	for _, k := range []string{"svc/a", "svc/b"} {
		if _, _, err := c.Get(ctx, []byte(k)); !errors.Is(err, yggr.ErrNotFound) {
			t.Errorf("Get %s after Revoke: %v, want ErrNotFound", k, err)
		}
	}
	if _, _, err := c.Get(ctx, []byte("plain")); err != nil {
		t.Errorf("Get plain after Revoke: %v", err)
	}
	if ls, err := c.Leases(ctx); err != nil || len(ls) != 0 {
		t.Errorf("Leases after Revoke = %v, %v; want none", ls, err)
	}

	// The revoked lease, an unknown one and lease 0 are ErrLeaseNotFound
	// everywhere, and never ErrNotFound (which is about keys).
	for _, gone := range []yggr.LeaseID{id, 987654, 0} {
		errs := map[string]error{
			"KeepAlive":     first(c.KeepAlive(ctx, gone)),
			"TimeToLive":    first(c.TimeToLive(ctx, gone)),
			"Revoke":        c.Revoke(ctx, gone),
			"KeepAliveLoop": c.KeepAliveLoop(ctx, gone, time.Second),
		}
		if gone != 0 {
			errs["Put WithLease"] = first(c.Put(ctx, []byte("svc/c"), []byte("v"), yggr.WithLease(gone)))
		}
		for name, err := range errs {
			if !errors.Is(err, yggr.ErrLeaseNotFound) || errors.Is(err, yggr.ErrNotFound) {
				t.Errorf("%s(lease %d) = %v, want ErrLeaseNotFound", name, gone, err)
			}
		}
	}
	if _, _, err := c.Get(ctx, []byte("svc/c")); !errors.Is(err, yggr.ErrNotFound) {
		t.Errorf("Get svc/c after a Put WithLease on a revoked lease: %v, want ErrNotFound", err)
	}

	// TTLs out of range fail before anything is sent, as the library's do.
	for _, bad := range []time.Duration{0, -time.Second, time.Microsecond, yggr.MaxLeaseTTL + time.Millisecond} {
		for name, err := range map[string]error{
			"Grant":         first(c.Grant(ctx, bad)),
			"DB.Grant":      first(db.Grant(ctx, bad)),
			"KeepAliveLoop": c.KeepAliveLoop(ctx, 1, bad),
		} {
			if !errors.Is(err, yggr.ErrLeaseTTL) || !errors.Is(err, yggr.ErrInvalid) {
				t.Errorf("%s(%v) = %v, want ErrLeaseTTL and ErrInvalid", name, bad, err)
			}
		}
	}
	if ls, err := c.Leases(ctx); err != nil || len(ls) != 0 {
		t.Errorf("Leases after bad grants = %v, %v; want none", ls, err)
	}
	// The server's lease_ttl comes back as ErrLeaseTTL too.
	var out LeaseResponse
	err = c.call(ctx, request{method: http.MethodPost, path: "/v1/leases", body: []byte(`{"ttl_ms":0}`), json: true}, &out)
	if !errors.Is(err, yggr.ErrLeaseTTL) || !errors.Is(err, yggr.ErrInvalid) {
		t.Errorf("grant with ttl_ms 0 = %v, want ErrLeaseTTL", err)
	}
}

// TestClientKeepAliveLoop: the loop keeps a short lease (and its key)
// alive well past its TTL, returns ctx's error when ctx ends (then the
// lease expires), and returns ErrLeaseNotFound promptly when the lease is
// revoked under it.
func TestClientKeepAliveLoop(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{})
	c := newClient(t, []string{srv.URL}, ClientOptions{})
	// 2 s, not 600 ms: the loop keeps the lease alive every TTL/3, each
	// try bounded by TTL/3, which 600 ms did not survive on a loaded
	// machine.
	const ttl = 2 * time.Second

	id, err := c.Grant(ctx, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, []byte("alive"), []byte("v"), yggr.WithLease(id)); err != nil {
		t.Fatal(err)
	}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	// The loop under test; ends when stop cancels lctx.
	go func() { done <- c.KeepAliveLoop(lctx, id, ttl) }()
	start := time.Now()
	testutil.WaitFor(t, "1.5 TTLs to pass with the key alive", func() bool {
		if _, err := db.Get(ctx, []byte("alive"), yggr.WithConsistency(yggr.Stale)); err != nil {
			t.Fatalf("the kept-alive key is gone after %v: %v", time.Since(start), err)
		}
		return time.Since(start) > ttl+ttl/2
	})
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("KeepAliveLoop after cancel = %v, want context.Canceled", err)
	}
	testutil.WaitFor(t, "the lease to expire once the loop stopped", func() bool {
		_, err := db.Get(ctx, []byte("alive"), yggr.WithConsistency(yggr.Stale))
		return errors.Is(err, yggr.ErrNotFound)
	})

	// Revoked under a running loop: the loop ends with ErrLeaseNotFound.
	id, err = c.Grant(ctx, ttl)
	if err != nil {
		t.Fatal(err)
	}
	// The loop under test; ends when the lease is revoked (or ctx ends).
	go func() { done <- c.KeepAliveLoop(ctx, id, ttl) }()
	if err := c.Revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, yggr.ErrLeaseNotFound) {
		t.Errorf("KeepAliveLoop on a revoked lease = %v, want ErrLeaseNotFound", err)
	}
}

// TestClientKeepAliveLoopFailures: transient failures are retried until
// ctx ends; an answer retrying cannot change ends the loop at once; a
// keepalive goes to the next endpoint after a 503 a POST that writes would
// not be resent after.
func TestClientKeepAliveLoopFailures(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{Token: "right"})

	t.Run("nobody answers", func(t *testing.T) {
		c := newClient(t, []string{deadAddr(t)}, ClientOptions{})
		lctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
		defer cancel()
		if err := c.KeepAliveLoop(lctx, 1, 90*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("KeepAliveLoop with no endpoint = %v, want ctx's deadline", err)
		}
	})
	t.Run("no leader", func(t *testing.T) {
		noLeader, hits := stub(t, http.StatusServiceUnavailable, CodeNoLeader)
		c := newClient(t, []string{noLeader.URL}, ClientOptions{})
		lctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		if err := c.KeepAliveLoop(lctx, 1, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("KeepAliveLoop without a leader = %v, want ctx's deadline", err)
		}
		if hits.Load() < 2 {
			t.Errorf("%d keepalives sent, want the loop to keep trying", hits.Load())
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		c := newClient(t, []string{srv.URL}, ClientOptions{Token: "wrong"})
		if err := c.KeepAliveLoop(ctx, 1, time.Hour); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("KeepAliveLoop with a wrong token = %v, want ErrUnauthorized", err)
		}
	})
	t.Run("keepalive resent after 503 closed, grant not", func(t *testing.T) {
		closing, hits := stub(t, http.StatusServiceUnavailable, CodeClosed)
		c := newClient(t, []string{closing.URL, srv.URL}, ClientOptions{Token: "right"})
		if _, err := c.Grant(ctx, time.Minute); !errors.Is(err, yggr.ErrClosed) || hits.Load() != 1 {
			t.Fatalf("Grant = %v after %d attempts, want ErrClosed after 1", err, hits.Load())
		}
		id, err := db.Grant(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		c = newClient(t, []string{closing.URL, srv.URL}, ClientOptions{Token: "right"})
		if ttl, err := c.KeepAlive(ctx, id); err != nil || ttl != time.Minute {
			t.Errorf("KeepAlive past a closing node = %v, %v; want 1m", ttl, err)
		}
		if hits.Load() != 2 {
			t.Errorf("the closing node got %d requests, want 2 (the grant, then the keepalive once)", hits.Load())
		}
	})
}

// TestAPIErrorLeaseMessages: the errors a caller prints say what is wrong.
func TestAPIErrorLeaseMessages(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{})
	c := newClient(t, []string{srv.URL}, ClientOptions{})
	for _, tt := range []struct {
		err  error
		want string
	}{
		{first(c.KeepAlive(ctx, 31337)), "yggr: lease not found (never granted, revoked or expired): lease 31337 (HTTP 404 lease_not_found)"},
		{first(c.Grant(ctx, 0)), "yggr: lease TTL out of range: 0s (want 1ms to 720h0m0s)"},
	} {
		// One prefix: the server's message, not "httpapi: 404 ...: yggr: ...".
		if tt.err == nil || tt.err.Error() != tt.want {
			t.Errorf("error %v, want %q", tt.err, tt.want)
		}
	}
}
