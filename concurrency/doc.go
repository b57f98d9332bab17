// Package concurrency builds sessions, locks and leader elections on a
// yggr database, in the spirit of etcd's clientv3/concurrency: a Session
// is a lease kept alive in the background; a Mutex is a fair lock whose
// waiters queue by the creation revision of their keys; an Election elects
// one leader among candidates and lets anyone observe who leads.
//
// # Usage
//
//	s, err := concurrency.NewSession(ctx, db, concurrency.WithTTL(10*time.Second))
//	if err != nil { ... }
//	defer s.Close() // revokes the lease: every lock and candidacy of s ends
//
//	m := concurrency.NewMutex(s, "locks/report")
//	if err := m.Lock(ctx); err != nil { ... }
//	token := m.Token() // the fencing token: hand it to every resource you write
//	// ... work, writing with token ...
//	if err := m.Unlock(ctx); err != nil { ... }
//
//	e := concurrency.NewElection(s, "elections/scheduler")
//	if err := e.Campaign(ctx, []byte("worker-3")); err != nil { ... }
//	// ... lead until s.Done() is closed, or Resign ...
//	for l, err := range concurrency.Observe(ctx, db, "elections/scheduler") { ... }
//
// # How it works
//
// A lock or an election named N owns the keys "N/<lease>-<nonce>" (16 hex
// digits each). To wait, a Mutex or a candidate creates its own key,
// attached to its session's lease, and waits until every key created
// before it (a smaller CreateIndex, the revision that created it) is gone.
// The holder, or leader, is the key with the smallest CreateIndex. Each
// waiter watches only its predecessor, the key created just before its
// own, so a release wakes one waiter, not all of them. Waiters are served
// in the order they started waiting. A key created by anything else under
// "N/" does not take part.
//
// A session whose process dies stops its keepalives; the leader of the
// cluster revokes the lease within its TTL (plus an election timeout if
// the leader fails too), which deletes the session's keys and so releases
// its locks and ends its candidacies.
//
// # Fencing tokens
//
// A lock guarantees mutual exclusion only to holders that are not paused.
// A holder can be paused (a long garbage collection, a stopped VM, a slow
// disk, a network partition) after it took the lock and before it writes;
// meanwhile its session expires, the lock passes to the next waiter, and
// when the paused holder resumes it still believes it holds the lock. No
// lock service can prevent this: it cannot reach into the paused process.
// The resource it writes to must refuse the stale holder, and the fencing
// token is what lets it.
//
// The token (Mutex.Token, Election.Rev) is the CreateIndex of the holder's
// key. The holder's key is the oldest key of the lock, keys are only ever
// added with larger revisions, so the token of each new holder is larger
// than every token before it. To protect a resource:
//
//  1. Take the lock and read its token.
//  2. Send the token with every write to the resource.
//  3. The resource remembers the largest token it has accepted and
//     refuses any write with a smaller one (a write with the same token
//     comes from the current holder and is accepted).
//
// A paused holder that resumes after its successor wrote is then refused,
// whatever it believes. Before the successor's first write, the old
// holder's writes are still accepted: as the resource sees it, its term
// has not ended yet; the terms never overlap.
//
// When the resource is the yggr database itself, the check is built in:
// Mutex.Txn (and Election.Proclaim) apply a transaction only if the
// holder's key still exists with the same CreateIndex, that is, only while
// the lock is still held; Mutex.Guard (Election.Guard) gives the compare
// to add to a transaction of your own.
//
// # Caveats
//
//   - A session's deadline is measured on this process's clock from the
//     moment its last successful keepalive was sent; once a TTL passes
//     without one, the session ends (Done is closed, Err says why), even if
//     the cluster has not yet revoked the lease. It never ends later than the
//     lease could expire, so a holder that watches Done and is not paused
//     stops in time. A paused one cannot watch anything: use fencing tokens.
//   - A Lock or Campaign whose call fails or is cancelled removes its key
//     before it returns, waiting up to the operation timeout for the outcome
//     of its write. If the cluster cannot be reached in that time the key may
//     remain, still attached to the session's lease: it goes when the
//     session is closed or expires, and until then it queues like any waiter.
//   - Keys under a lock's or election's name belong to it: do not write
//     keys of the form "N/<16 hex digits>-<16 hex digits>" yourself.
//   - A Session, Mutex and Election are safe for concurrent use; a Mutex
//     holds or acquires the lock once at a time (a second Lock on the same
//     Mutex fails with ErrAlreadyHeld; use one Mutex per holder).
package concurrency
