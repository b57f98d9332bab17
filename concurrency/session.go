package concurrency

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/yggrdb/yggr"
)

// DefaultTTL is a session's lease TTL unless WithTTL says otherwise.
const DefaultTTL = 60 * time.Second

// Session errors. Session.Err returns one of them (wrapped with the cause)
// once the session has ended, and the locks and elections of an ended
// session fail with it.
var (
	// ErrSessionClosed: Close was called.
	ErrSessionClosed = errors.New("concurrency: session closed")
	// ErrSessionExpired: the session's lease is gone or may be: it was
	// revoked or expired, no keepalive succeeded within a TTL, or the
	// database closed. Every lock it held may have passed to another
	// holder.
	ErrSessionExpired = errors.New("concurrency: session expired")
)

// Session is a lease kept alive in the background. Locks and elections
// attach their keys to it, so they end when it ends: when Close revokes the
// lease, or when the session is lost (the lease was revoked or expired, no
// keepalive succeeded within a TTL, or the database closed). Done is closed
// when it ends, and Err tells why. A lost session stays ended: create a new
// one.
//
// A Session is safe for concurrent use.
type Session struct {
	db  *yggr.DB
	id  yggr.LeaseID
	ttl time.Duration

	// ctx ends when the session ends, with the reason as its cause; cancel
	// ends it. Close also stops the keepalive goroutine with stop.
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   context.CancelFunc
	wg     sync.WaitGroup // the keepalive goroutine

	closeOnce sync.Once
	closeErr  error
	// passive: no keepalives and no revoke (WithoutKeepAlive).
	passive bool

	hooks *testHooks // nil outside tests
}

// SessionOption configures NewSession.
type SessionOption func(*sessionOptions)

type sessionOptions struct {
	ttl     time.Duration
	lease   yggr.LeaseID
	passive bool
	hooks   *testHooks
}

// WithTTL sets the TTL of the session's lease (default DefaultTTL). A
// process that dies releases its locks within about this long. Keep it
// well above the cluster's election timeout: a keepalive may wait for an
// election, and a TTL shorter than one does not survive a leader change.
func WithTTL(ttl time.Duration) SessionOption {
	return func(o *sessionOptions) { o.ttl = ttl }
}

// WithExistingLease makes the session keep alive a lease granted before
// (for example by a process that restarted and wants its keys back)
// instead of granting one. The session takes the lease's TTL; Close
// revokes it.
func WithExistingLease(id yggr.LeaseID) SessionOption {
	return func(o *sessionOptions) { o.lease = id }
}

// WithoutKeepAlive makes a session that neither keeps its lease alive nor
// revokes it on Close: for a server that runs locks and elections on
// behalf of a client that owns the lease (WithExistingLease) and keeps it
// alive itself, as the HTTP API does. NewSession then makes no call to the
// database, and the session does not know its TTL (TTL returns 0). Its
// locks and candidacies still end when the lease ends (a waiting Lock or
// Campaign fails with ErrSessionExpired), but Done is closed only by
// Close.
func WithoutKeepAlive() SessionOption {
	return func(o *sessionOptions) { o.passive = true }
}

// NewSession grants a lease (or adopts one, WithExistingLease) and keeps it
// alive in the background every TTL/3 until Close or until it is lost.
func NewSession(ctx context.Context, db *yggr.DB, opts ...SessionOption) (*Session, error) {
	o := sessionOptions{ttl: DefaultTTL}
	for _, opt := range opts {
		opt(&o)
	}
	sent := time.Now()
	id := o.lease
	ttl := o.ttl
	if o.passive {
		if id == 0 {
			return nil, fmt.Errorf("%w: concurrency: WithoutKeepAlive needs WithExistingLease", yggr.ErrInvalid)
		}
		s := &Session{db: db, id: id, passive: true, hooks: o.hooks}
		s.ctx, s.cancel = context.WithCancelCause(context.Background())
		s.stop = func() {}
		return s, nil
	}
	if id == 0 {
		var err error
		if id, err = db.Grant(ctx, ttl); err != nil {
			return nil, fmt.Errorf("concurrency: grant a session lease: %w", err)
		}
	} else {
		var err error
		if ttl, err = db.KeepAlive(ctx, id); err != nil {
			return nil, fmt.Errorf("concurrency: adopt lease %d: %w", id, err)
		}
	}
	s := &Session{db: db, id: id, ttl: ttl, hooks: o.hooks}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	var loop context.Context
	loop, s.stop = context.WithCancel(s.ctx)
	s.wg.Add(1)
	// The keepalive goroutine: owned by the session, it ends when the
	// session ends (Close, or the lease is lost).
	go s.keepAlive(loop, sent)
	return s, nil
}

// Lease returns the session's lease.
func (s *Session) Lease() yggr.LeaseID { return s.id }

// TTL returns the TTL of the session's lease (0 for a session made
// WithoutKeepAlive).
func (s *Session) TTL() time.Duration { return s.ttl }

// DB returns the database the session lives in.
func (s *Session) DB() *yggr.DB { return s.db }

// Done returns a channel that is closed when the session ends. After that
// its locks may be held by others and its elections won by others.
func (s *Session) Done() <-chan struct{} { return s.ctx.Done() }

// Err returns nil while the session lives, then why it ended: an error
// matching ErrSessionClosed or ErrSessionExpired.
func (s *Session) Err() error {
	if s.ctx.Err() == nil {
		return nil
	}
	return context.Cause(s.ctx)
}

// Context returns a context that ends when the session ends;
// context.Cause tells why (as Err does). Work done on behalf of a lock or
// a leadership can run under it.
func (s *Session) Context() context.Context { return s.ctx }

// closeTimeout bounds how long Close waits to revoke the lease; if it
// cannot, the lease expires by itself within its TTL.
const closeTimeout = 5 * time.Second

// Close ends the session and revokes its lease, which deletes its keys:
// its locks are released and its candidacies end. It returns an error if
// the revoke failed (the lease then expires within its TTL). Closing a
// lost session still tries to revoke its lease; closing twice does
// nothing more. A session made WithoutKeepAlive does not revoke the lease
// (it is not its own): Close only ends the session.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.cancel(ErrSessionClosed) // keeps the first cause if already lost
		s.stop()
		s.wg.Wait()
		if s.passive {
			return // the lease is its owner's
		}
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		err := s.db.Revoke(ctx, s.id)
		if err != nil && !errors.Is(err, yggr.ErrLeaseNotFound) {
			s.closeErr = fmt.Errorf("concurrency: revoke lease %d: %w", s.id, err)
		}
	})
	return s.closeErr
}

// keepAlive renews the lease every TTL/3 (sooner after a failure) and
// ends the session when the lease is gone or may be: a keepalive says it
// is not found, the database closed, or a TTL passed since the last
// successful keepalive was sent (the leader counts its TTL from when it
// received that keepalive, later than it was sent, so the lease cannot
// have expired before this deadline).
func (s *Session) keepAlive(ctx context.Context, lastSent time.Time) {
	defer s.wg.Done()
	every := max(s.ttl/3, time.Millisecond)
	retry := max(s.ttl/10, time.Millisecond)
	next := every
	for {
		deadline := lastSent.Add(s.ttl)
		wait := time.NewTimer(next)
		lapse := time.NewTimer(time.Until(deadline))
		select {
		case <-ctx.Done():
			wait.Stop()
			lapse.Stop()
			return
		case <-lapse.C:
			wait.Stop()
			s.lose(fmt.Errorf("%w: no keepalive of lease %d succeeded within its TTL %v", ErrSessionExpired, s.id, s.ttl))
			return
		case <-wait.C:
			lapse.Stop()
		}
		if s.hooks != nil && s.hooks.beforeKeepAlive != nil {
			if !s.hooks.beforeKeepAlive(ctx) {
				next = every
				continue // the test suppressed this keepalive
			}
		}
		sent := time.Now()
		kctx, cancel := context.WithDeadline(ctx, deadline)
		_, err := s.db.KeepAlive(kctx, s.id)
		cancel()
		switch {
		case err == nil:
			lastSent, next = sent, every
		case ctx.Err() != nil:
			return
		case errors.Is(err, yggr.ErrLeaseNotFound), errors.Is(err, yggr.ErrClosed):
			s.lose(fmt.Errorf("%w: lease %d: %w", ErrSessionExpired, s.id, err))
			return
		default: // no leader, a timeout: try again soon, until the deadline
			next = retry
		}
	}
}

// lose ends the session as expired (unless it already ended) and tries to
// revoke the lease, so that its keys go at once if the cluster is there to
// revoke it.
func (s *Session) lose(cause error) {
	s.cancel(cause)
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	s.db.Revoke(ctx, s.id) // best effort: the lease expires anyway
}

// testHooks let tests watch and steer a session and its locks.
type testHooks struct {
	// beforeKeepAlive runs before each keepalive; false skips it (a
	// paused or cut-off client).
	beforeKeepAlive func(ctx context.Context) bool
	// waiting runs when a key starts waiting for its predecessor.
	waiting func(key, predecessor []byte)
}

func withTestHooks(h *testHooks) SessionOption {
	return func(o *sessionOptions) { o.hooks = h }
}
