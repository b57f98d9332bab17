package concurrency

import (
	"context"
	"errors"
	"github.com/yggrdb/yggr/internal/testutil"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yggrdb/yggr"
)

// A session keeps its lease alive well past its TTL, and Close revokes it:
// its keys go, Done closes, Err says closed.
func TestSessionKeepsAliveUntilClose(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	var keepalives atomic.Int64
	// 2 s, not 300 ms: the session is lost when its goroutine stalls for
	// 2/3 of the TTL, which 300 ms did not survive on a loaded machine.
	const ttl = 2 * time.Second
	s := newTestSession(t, db, WithTTL(ttl),
		withTestHooks(&testHooks{beforeKeepAlive: func(context.Context) bool { keepalives.Add(1); return true }}))
	if err := db.Put(ctx, []byte("k"), []byte("v"), yggr.WithLease(s.Lease())); err != nil {
		t.Fatal(err)
	}
	// Five TTL/3s of keepalives: well past one TTL.
	testutil.WaitFor(t, "five keepalives", func() bool { return keepalives.Load() >= 5 })
	if err := s.Err(); err != nil {
		t.Fatalf("session ended while kept alive: %v", err)
	}
	if _, err := db.Get(ctx, []byte("k")); err != nil {
		t.Fatalf("key of a live session: %v", err)
	}
	if got := s.TTL(); got != ttl {
		t.Errorf("TTL = %v, want %v", got, ttl)
	}
	if s.DB() != db {
		t.Error("DB() is not the session's database")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if err := s.Err(); !errors.Is(err, ErrSessionClosed) {
		t.Errorf("Err after Close = %v, want ErrSessionClosed", err)
	}
	if err := context.Cause(s.Context()); !errors.Is(err, ErrSessionClosed) {
		t.Errorf("Context's cause = %v, want ErrSessionClosed", err)
	}
	if _, err := db.Get(ctx, []byte("k")); !errors.Is(err, yggr.ErrNotFound) {
		t.Errorf("key after Close: %v, want ErrNotFound", err)
	}
	if _, err := db.TimeToLive(ctx, s.Lease()); !errors.Is(err, yggr.ErrLeaseNotFound) {
		t.Errorf("lease after Close: %v, want ErrLeaseNotFound", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A session whose lease is revoked by someone else ends as expired.
func TestSessionLostWhenRevoked(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	s := newTestSession(t, db, WithTTL(300*time.Millisecond))
	if err := db.Revoke(ctx, s.Lease()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("session not ended after its lease was revoked")
	}
	if err := s.Err(); !errors.Is(err, ErrSessionExpired) || !errors.Is(err, yggr.ErrLeaseNotFound) {
		t.Errorf("Err = %v, want ErrSessionExpired wrapping ErrLeaseNotFound", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close of a lost session: %v", err)
	}
	if err := s.Err(); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("Err after Close = %v, want it to stay ErrSessionExpired", err)
	}
}

// A session whose keepalives do not get through ends on its own deadline,
// one TTL after the last keepalive was sent, and revokes its lease.
func TestSessionLostWithoutKeepalives(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	var blocked atomic.Bool
	ttl := 400 * time.Millisecond
	s := newTestSession(t, db, WithTTL(ttl),
		withTestHooks(&testHooks{beforeKeepAlive: func(context.Context) bool { return !blocked.Load() }}))
	if err := db.Put(ctx, []byte("k"), nil, yggr.WithLease(s.Lease())); err != nil {
		t.Fatal(err)
	}
	blocked.Store(true)
	start := time.Now()
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("session not ended without keepalives")
	}
	if took := time.Since(start); took > ttl+2*time.Second {
		t.Errorf("ended %v after keepalives stopped, want about the TTL %v", took, ttl)
	}
	if err := s.Err(); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("Err = %v, want ErrSessionExpired", err)
	}
	testutil.WaitFor(t, "the lost session's key to go", func() bool {
		_, err := db.Get(ctx, []byte("k"))
		return errors.Is(err, yggr.ErrNotFound)
	})
}

// A session ends when its database closes.
func TestSessionLostWhenDBCloses(t *testing.T) {
	db, err := yggr.Open(t.TempDir(), nil, yggr.WithUnsafeNoSync())
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(testCtx(t), db, WithTTL(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	<-s.Done() // the keepalive fails with ErrClosed within TTL/3
	if err := s.Err(); !errors.Is(err, ErrSessionExpired) || !errors.Is(err, yggr.ErrClosed) {
		t.Errorf("Err = %v, want ErrSessionExpired wrapping ErrClosed", err)
	}
	if err := s.Close(); err == nil {
		t.Error("Close on a closed database revoked nothing but reported no error")
	}
}

func TestSessionExistingLease(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	id, err := db.Grant(ctx, 7*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSession(t, db, WithExistingLease(id), WithTTL(time.Hour))
	if s.Lease() != id || s.TTL() != 7*time.Second {
		t.Errorf("session lease %d ttl %v, want %d and the lease's 7s", s.Lease(), s.TTL(), id)
	}
	if _, err := NewSession(ctx, db, WithExistingLease(id+1000)); !errors.Is(err, yggr.ErrLeaseNotFound) {
		t.Errorf("NewSession with an unknown lease: %v, want ErrLeaseNotFound", err)
	}
	for _, ttl := range []time.Duration{0, -time.Second, yggr.MaxLeaseTTL + time.Hour} {
		if _, err := NewSession(ctx, db, WithTTL(ttl)); !errors.Is(err, yggr.ErrLeaseTTL) {
			t.Errorf("NewSession with TTL %v: %v, want ErrLeaseTTL", ttl, err)
		}
	}
}

// A session made WithoutKeepAlive runs locks on a lease its owner keeps
// alive: a waiting Lock ends when the lease goes, Close does not revoke,
// and a lock can be resumed from its key and token elsewhere.
func TestSessionWithoutKeepAlive(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	if _, err := NewSession(ctx, db, WithoutKeepAlive()); !errors.Is(err, yggr.ErrInvalid) {
		t.Errorf("WithoutKeepAlive without a lease: %v, want ErrInvalid", err)
	}
	holder := NewMutex(newTestSession(t, db), "p")
	if err := holder.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	id, err := db.Grant(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(ctx, db, WithExistingLease(id), WithoutKeepAlive())
	if err != nil {
		t.Fatal(err)
	}
	if s.TTL() != 0 || s.Lease() != id {
		t.Errorf("passive session: TTL %v lease %d, want 0 and %d", s.TTL(), s.Lease(), id)
	}
	res := make(chan error, 1)
	go func() { res <- NewMutex(s, "p").Lock(ctx) }()
	testutil.WaitFor(t, "the waiter to queue", func() bool { return len(keys(t, db, "p/")) == 2 })
	// The owner's lease ends while the lock is held by another: the
	// waiter notices its own key go, without waiting for the holder.
	if err := db.Revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, ErrSessionExpired) || !errors.Is(err, yggr.ErrLeaseNotFound) {
		t.Fatalf("Lock whose lease was revoked: %v, want ErrSessionExpired and ErrLeaseNotFound", err)
	}
	s.Close()

	// Close does not revoke; a lock resumed from its key and token unlocks.
	id2, err := db.Grant(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := NewSession(ctx, db, WithExistingLease(id2), WithoutKeepAlive())
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	m := NewMutex(s2, "p")
	if err := m.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	key, token := m.Key(), m.Token()
	s2.Close()
	if _, err := db.TimeToLive(ctx, id2); err != nil {
		t.Fatalf("Close of a passive session revoked the owner's lease: %v", err)
	}
	s3, err := NewSession(ctx, db, WithExistingLease(id2), WithoutKeepAlive())
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	for _, bad := range []struct {
		key   []byte
		token uint64
	}{{[]byte("p/zz"), token}, {key, 0}, {[]byte("q/" + string(key[2:])), token}} {
		if _, err := ResumeMutex(s3, "p", bad.key, bad.token); !errors.Is(err, yggr.ErrInvalid) {
			t.Errorf("ResumeMutex(%q, %d): %v, want ErrInvalid", bad.key, bad.token, err)
		}
	}
	wrong, err := ResumeMutex(s3, "p", key, token+1)
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Unlock(ctx); !errors.Is(err, ErrLockLost) {
		t.Errorf("Unlock with a wrong token: %v, want ErrLockLost", err)
	}
	r, err := ResumeMutex(s3, "p", key, token)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Unlock(ctx); err != nil {
		t.Fatalf("Unlock of a resumed lock: %v", err)
	}
	if ks := keys(t, db, "p/"); len(ks) != 0 {
		t.Errorf("keys %q after the resumed unlock", ks)
	}
}
