package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/concurrency"
	"github.com/yggrdb/yggr/httpapi"
)

// heldLease is a lease `yggr lock` and `yggr elect` grant for themselves
// and keep alive in the background. Done is closed once the lease is, or
// may be, gone; Err then says why.
type heldLease struct {
	cl   *httpapi.Client
	id   yggr.LeaseID
	ttl  time.Duration
	stop context.CancelFunc
	done chan struct{}
	err  error // set before done closes
}

// holdLease grants the lease a lock or an election runs under (the grant
// bounded by --timeout) and keeps it alive. release revokes it, warning on
// stderr when it cannot, and returns its argument.
func (f *clientFlags) holdLease(e *env, cl *httpapi.Client, ttl time.Duration) (lease *heldLease, release func(error) error, err error) {
	ctx, cancel := f.context(e)
	lease, err = grantHeld(ctx, cl, ttl)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	release = func(err error) error {
		if rerr := lease.release(f.Timeout); rerr != nil {
			fmt.Fprintf(e.stderr, "Warning: %v\n", rerr)
		}
		return err
	}
	return lease, release, nil
}

// grantHeld grants a lease of ttl and keeps it alive until release.
func grantHeld(ctx context.Context, cl *httpapi.Client, ttl time.Duration) (*heldLease, error) {
	sent := time.Now()
	id, err := cl.Grant(ctx, ttl)
	if err != nil {
		return nil, err
	}
	kctx, stop := context.WithCancel(context.Background())
	h := &heldLease{cl: cl, id: id, ttl: ttl, stop: stop, done: make(chan struct{})}
	// The keepalive goroutine: owned by the command, it ends when the
	// lease is lost or release stops it.
	go func() {
		h.err = keepLease(kctx, cl, id, ttl, sent)
		close(h.done)
	}()
	return h, nil
}

// release stops the keepalives and revokes the lease, which deletes the
// keys attached to it (the lock's or the candidate's, if any is left).
func (h *heldLease) release(timeout time.Duration) error {
	h.stop()
	<-h.done
	ctx, cancel := context.WithTimeout(context.Background(), max(timeout, time.Second))
	defer cancel()
	if err := h.cl.Revoke(ctx, h.id); err != nil && !errors.Is(err, yggr.ErrLeaseNotFound) {
		return fmt.Errorf("revoking lease %d (it expires within its TTL anyway): %w", h.id, err)
	}
	return nil
}

// lost is the error of a lease that is or may be gone: the lock or
// leadership it held may have passed to someone else. It matches
// concurrency.ErrLockLost.
func (h *heldLease) lost() error {
	return fmt.Errorf("%w: lease %d: %w", concurrency.ErrLockLost, h.id, h.err)
}

// keepLease renews lease id every ttl/3 (sooner after a failure) until ctx
// ends (then it returns nil), or until the lease is or may be gone: a
// keepalive says it is not found, or a TTL has passed since the last
// successful keepalive was sent. The leader counts its TTL from when it
// received that keepalive, which is later, so the lease cannot have
// expired before this process gives up on it.
func keepLease(ctx context.Context, cl *httpapi.Client, id yggr.LeaseID, ttl time.Duration, lastSent time.Time) error {
	every := max(ttl/3, time.Millisecond)
	retry := max(ttl/10, time.Millisecond)
	next := every
	for {
		deadline := lastSent.Add(ttl)
		wait := time.NewTimer(next)
		lapse := time.NewTimer(time.Until(deadline))
		select {
		case <-ctx.Done():
			wait.Stop()
			lapse.Stop()
			return nil
		case <-lapse.C:
			wait.Stop()
			return fmt.Errorf("no keepalive got through within the TTL %v", ttl)
		case <-wait.C:
			lapse.Stop()
		}
		sent := time.Now()
		kctx, cancel := context.WithDeadline(ctx, deadline)
		_, err := cl.KeepAlive(kctx, id)
		cancel()
		switch {
		case err == nil:
			lastSent, next = sent, every
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, yggr.ErrLeaseNotFound):
			return err
		default: // no leader, an endpoint down: try again soon, until the deadline
			next = retry
		}
	}
}

// untilLost returns a context that also ends, with the lease's loss as
// its cause, when the lease is lost.
func (h *heldLease) untilLost(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() { // owned by the caller's context: ends with it or the lease
		select {
		case <-h.done:
			cancel(h.lost())
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}
