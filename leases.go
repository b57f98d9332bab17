package yggr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/kv"
	"github.com/yggrdb/yggr/internal/node"
)

// LeaseID names a lease: the log index of its grant, so IDs are never
// reused. 0 is no lease.
type LeaseID uint64

// Bounds of a lease's TTL. TTLs are kept in whole milliseconds.
const (
	MinLeaseTTL = time.Millisecond
	MaxLeaseTTL = 30 * 24 * time.Hour
)

// Lease errors.
var (
	// ErrLeaseNotFound: the lease does not exist: it was never granted,
	// or it was revoked, or it expired (an expired lease is revoked; a
	// keepalive after expiry gets this error). Attaching a key to such a
	// lease changes nothing.
	ErrLeaseNotFound = errors.New("yggr: lease not found (never granted, revoked or expired)")
	// ErrLeaseTTL: a TTL under MinLeaseTTL or over MaxLeaseTTL. It also
	// matches ErrInvalid.
	ErrLeaseTTL = errors.New("yggr: lease TTL out of range")
)

// LeaseInfo describes a lease.
type LeaseInfo struct {
	ID  LeaseID
	TTL time.Duration // as granted
	// Remaining is how long the lease has left by the leader's clock if no
	// keepalive comes (TimeToLive only; Leases leaves it 0).
	Remaining time.Duration
	// Keys are the keys attached to the lease, in key order (TimeToLive
	// only).
	Keys [][]byte
}

// Grant creates a lease with the given TTL and returns its ID. Keys put
// with WithLease(id) (or a Request with Lease set, in a Txn) are attached
// to it; revoking it, or letting it expire, deletes them all at one log
// index, which watchers see as deletes at one revision.
//
// The guarantee. Only the leader expires leases, by its own monotonic
// clock, and it does so by proposing the revoke through the log, so every
// replica applies the same deletes at the same index:
//   - A lease whose keepalives succeed at least once per TTL (measured
//     from when each KeepAlive was sent) is never revoked by expiry, across
//     leader changes: a keepalive succeeds only once its leader has
//     confirmed its leadership, and a new leader gives every lease a full
//     TTL from when it starts leading.
//   - A lease whose holder stops is revoked within its TTL after the last
//     successful keepalive, plus one tick and a commit, while the leader
//     stays; if the leader fails, within TTL of the moment a new leader
//     starts (an election timeout or so after the failure), so at most
//     about twice the TTL plus an election timeout after the last
//     keepalive.
//
// Leases are part of the replicated state and of snapshots; deadlines
// are not (each leader starts over). Clients should keep a lease alive
// well within its TTL (every TTL/3, as KeepAliveLoop does): a keepalive
// may wait for an election. TTLs shorter than an election timeout cannot
// survive a leader change.
func (db *DB) Grant(ctx context.Context, ttl time.Duration) (_ LeaseID, err error) {
	ctx, span := db.span(ctx, "yggr.Grant")
	defer func() { endSpan(span, err) }()
	ms, err := leaseTTLMillis(ttl)
	if err != nil {
		return 0, err
	}
	res, err := db.propose(ctx, kv.EncodeLeaseGrant(ms))
	if err != nil {
		return 0, err
	}
	return LeaseID(res.Index), nil
}

func leaseTTLMillis(ttl time.Duration) (uint64, error) {
	if ttl < MinLeaseTTL || ttl > MaxLeaseTTL {
		return 0, &sentinelError{fmt.Sprintf("%v: %v (want %v to %v)", ErrLeaseTTL, ttl, MinLeaseTTL, MaxLeaseTTL),
			[]error{ErrInvalid, ErrLeaseTTL}}
	}
	return uint64(ttl / time.Millisecond), nil
}

// KeepAlive renews the lease for a full TTL, counted from the call, and
// returns the TTL. A follower forwards it to the leader; it writes
// nothing to the log. It fails with ErrLeaseNotFound once the lease is
// revoked or has expired.
func (db *DB) KeepAlive(ctx context.Context, id LeaseID) (_ time.Duration, err error) {
	ctx, span := db.span(ctx, "yggr.KeepAlive")
	defer func() { endSpan(span, err) }()
	r, err := db.leaseCall(ctx, leaseOpKeepAlive, id)
	if err != nil {
		return 0, err
	}
	return ttlDuration(r.ttl), nil
}

// KeepAliveLoop keeps the lease alive every ttl/3 until ctx ends or a
// keepalive fails for good (ErrLeaseNotFound, ErrClosed), and returns why
// it stopped: ctx's error, or the keepalive's. Transient failures (no
// leader, a timeout) are retried at the same pace.
func (db *DB) KeepAliveLoop(ctx context.Context, id LeaseID, ttl time.Duration) error {
	every := max(ttl/3, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, every)
		_, err := db.KeepAlive(cctx, id)
		cancel()
		if errors.Is(err, ErrLeaseNotFound) || errors.Is(err, ErrClosed) || errors.Is(err, ErrInvalid) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Revoke deletes the lease and every key attached to it, at one log
// index. Revoking a lease that does not exist fails with
// ErrLeaseNotFound.
func (db *DB) Revoke(ctx context.Context, id LeaseID) (err error) {
	ctx, span := db.span(ctx, "yggr.Revoke")
	defer func() { endSpan(span, err) }()
	if id == 0 {
		return fmt.Errorf("%w: lease 0", ErrLeaseNotFound)
	}
	_, err = db.propose(ctx, kv.EncodeLeaseRevoke(uint64(id)))
	return err
}

// TimeToLive returns the lease's TTL, the time it has left by the
// leader's clock, and its keys (read at this node after a linearizable
// barrier), or ErrLeaseNotFound.
func (db *DB) TimeToLive(ctx context.Context, id LeaseID) (_ LeaseInfo, err error) {
	ctx, span := db.span(ctx, "yggr.TimeToLive")
	defer func() { endSpan(span, err) }()
	r, err := db.leaseCall(ctx, leaseOpTimeToLive, id)
	if err != nil {
		return LeaseInfo{}, err
	}
	if _, err := db.readBarrier(ctx, readOptions{}); err != nil {
		return LeaseInfo{}, err
	}
	info, ok := db.kv.Lease(uint64(id))
	if !ok {
		return LeaseInfo{}, ErrLeaseNotFound
	}
	return LeaseInfo{ID: id, TTL: ttlDuration(r.ttl), Remaining: ttlDuration(r.remaining), Keys: info.Keys}, nil
}

// Leases returns every live lease (ID and TTL) in ID order, read at the
// requested consistency (linearizable by default).
func (db *DB) Leases(ctx context.Context, opts ...ReadOption) (_ []LeaseInfo, err error) {
	ctx, span := db.span(ctx, "yggr.Leases")
	defer func() { endSpan(span, err) }()
	if _, err := db.readBarrier(ctx, readOpts(opts)); err != nil {
		return nil, err
	}
	ls, _ := db.kv.Leases()
	out := make([]LeaseInfo, len(ls))
	for i, l := range ls {
		out[i] = LeaseInfo{ID: LeaseID(l.ID), TTL: ttlDuration(l.TTL)}
	}
	return out, nil
}

// PutOption configures a Put. Like ReadOption, options take and return
// the settings by value.
type PutOption func(putOptions) putOptions

type putOptions struct {
	lease LeaseID
}

// WithLease attaches the key to the lease: revoking the lease, or its
// expiry, deletes the key. The put fails with ErrLeaseNotFound (and
// changes nothing) if the lease does not exist. A later put without
// WithLease detaches the key; deleting it detaches it too.
func WithLease(id LeaseID) PutOption {
	return func(p putOptions) putOptions { p.lease = id; return p }
}

// PutSettings are what a list of PutOptions selects, for a client that
// has a put served elsewhere (httpapi.Client sends them to a node).
type PutSettings struct {
	Lease LeaseID // the lease to attach the key to (WithLease); 0: none
}

// PutSettingsOf returns the settings opts select.
func PutSettingsOf(opts ...PutOption) PutSettings {
	var po putOptions
	for _, o := range opts {
		po = o(po)
	}
	return PutSettings{Lease: po.lease}
}

// leaseCall serves a lease operation on the leader.
func (db *DB) leaseCall(ctx context.Context, op byte, id LeaseID) (leaseResponse, error) {
	if id == 0 {
		return leaseResponse{}, fmt.Errorf("%w: lease 0", ErrLeaseNotFound)
	}
	b, err := db.node.CallLeader(ctx, encodeLeaseRequest(leaseRequest{op: op, id: uint64(id)}))
	if err != nil {
		return leaseResponse{}, err
	}
	r, err := decodeLeaseResponse(b)
	if err != nil {
		return leaseResponse{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if r.status == leaseStatusNotFound {
		return leaseResponse{}, fmt.Errorf("%w: lease %d", ErrLeaseNotFound, id)
	}
	return r, nil
}

// serveLeaderCall serves a lease request on the leader (node.Config.
// LeaderCall). It confirms its leadership and catches up with the commit
// index (a ReadIndex) before it answers, so that a deposed leader never
// renews a lease its successor does not know was renewed, and a lease
// granted before the call is known here.
func (db *DB) serveLeaderCall(ctx context.Context, req []byte) ([]byte, error) {
	start := time.Now()
	r, err := decodeLeaseRequest(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	st := db.node.Status()
	if st.Role != engine.Leader {
		return nil, &NotLeaderError{Leader: st.Leader}
	}
	mode := node.ReadIndex
	if db.opts.lease {
		mode = node.ReadLease
	}
	if _, err := db.node.ReadIndex(ctx, mode); err != nil {
		return nil, err
	}
	if now := db.node.Status(); now.Role != engine.Leader || now.Term != st.Term {
		return nil, &NotLeaderError{Leader: now.Leader}
	}
	if db.lessorStep(time.Now()) != st.Term {
		return nil, &NotLeaderError{}
	}
	ttl, ok := db.kv.LeaseTTL(r.id)
	if !ok {
		return encodeLeaseResponse(leaseResponse{status: leaseStatusNotFound}), nil
	}
	resp := leaseResponse{ttl: ttl}
	switch r.op {
	case leaseOpKeepAlive:
		switch db.lessor.keepAlive(start, st.Term, r.id, ttl) {
		case notLeading:
			return nil, &NotLeaderError{}
		case expiring:
			resp.status = leaseStatusNotFound
		}
	case leaseOpTimeToLive:
		rem, ok := db.lessor.remaining(time.Now(), st.Term, r.id)
		if !ok {
			return nil, &NotLeaderError{}
		}
		resp.remaining = uint64(rem / time.Millisecond)
	}
	return encodeLeaseResponse(resp), nil
}

// lessorStep brings the lessor in line with this node's role and the
// lease table, and returns the term it leads in (0: it does not lead).
func (db *DB) lessorStep(now time.Time) uint64 {
	db.lessorMu.Lock()
	defer db.lessorMu.Unlock()
	st := db.node.Status()
	if st.Role != engine.Leader {
		db.lessor.demote()
		return 0
	}
	term, gen := db.lessor.leading()
	switch {
	case term != st.Term:
		leases, g := db.kv.Leases()
		db.lessor.promote(now, st.Term, leases, g)
	case gen != db.kv.LeaseGen():
		leases, g := db.kv.Leases()
		db.lessor.sync(now, leases, g)
	}
	return st.Term
}

// maxRevokesPerTick bounds the revokes the expiry loop proposes at once.
const maxRevokesPerTick = 1024

// expiryLoop is the lease expiry goroutine: owned by the DB, it ends when
// Close cancels leaseCtx. Every tick it syncs the lessor and, on the
// leader, proposes the revokes of expired leases.
func (db *DB) expiryLoop(tick, retry time.Duration) {
	defer db.leaseWG.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-db.leaseCtx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if db.lessorStep(now) == 0 {
			continue
		}
		for _, id := range db.lessor.expired(now, retry, maxRevokesPerTick) {
			db.leaseWG.Add(1)
			// A revoke: owned by the DB, ends when it applies, fails, or
			// retry passes (the lessor proposes it again later if the
			// lease is still there).
			go func() {
				defer db.leaseWG.Done()
				ctx, cancel := context.WithTimeout(db.leaseCtx, retry)
				defer cancel()
				_, _, err := db.node.ProposeLocal(ctx, kv.EncodeLeaseRevoke(id))
				if err != nil && db.leaseCtx.Err() == nil {
					db.logger.Debug("lease revoke on expiry failed", "lease", id, "err", err)
				}
			}()
		}
	}
}
