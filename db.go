package yggr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/yggrdb/yggr/internal/kv"
	"github.com/yggrdb/yggr/internal/node"
	"github.com/yggrdb/yggr/internal/watch"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// span starts a span for a client operation; end it with endSpan.
// Without a tracer it allocates nothing: the span is the no-op span.
func (db *DB) span(ctx context.Context, name string) (context.Context, trace.Span) {
	if db.tracer == nil {
		return ctx, noopSpan
	}
	return db.tracer.Start(ctx, name, trace.WithAttributes(attribute.String("yggr.node", string(db.id))))
}

// noopSpan is what span returns when tracing is off.
var noopSpan = trace.SpanFromContext(context.Background())

// endSpan records err (if any) and ends the span.
func endSpan(span trace.Span, err error) {
	if err != nil && !errors.Is(err, ErrNotFound) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// DB is a replicated, ordered key-value database. Its methods are safe for
// concurrent use. Every method that takes a ctx stops waiting when ctx
// ends; a write whose wait was cancelled may still be applied.
type DB struct {
	replica // the runtime node, its network and the directory lock
	kv      *kv.Store
	opts    options
	limits  kv.Limits
	logger  *slog.Logger
	tracer  trace.Tracer // nil without WithTracerProvider: no spans at all
	hub     *watch.Hub   // fed by kvMachine; see Watch
	// replaySem lets one watch at a time rebuild history (see replay).
	replaySem chan struct{}
	// lessor holds the leader's lease deadlines (lessor.go); lessorMu
	// serializes lessorStep. The expiry loop and its revokes end when
	// leaseCtx is cancelled (Close), and leaseWG waits for them.
	lessor      *lessor
	lessorMu    sync.Mutex
	leaseCtx    context.Context
	leaseCancel context.CancelFunc
	leaseWG     sync.WaitGroup
}

// kvMachine adapts the B-tree store to the runtime's StateMachine, and
// publishes the changes it applies to the watch hub.
type kvMachine struct {
	*kv.Store
	hub    *watch.Hub
	events []kv.Event // the events of the command being applied
}

func newKVMachine(s *kv.Store, hub *watch.Hub) *kvMachine {
	m := &kvMachine{Store: s, hub: hub}
	s.Record(&m.events)
	return m
}

func (m *kvMachine) Apply(index uint64, cmd []byte) []byte {
	res := m.Store.Apply(index, cmd)
	if len(m.events) > 0 {
		m.hub.Publish(index, m.events) // the hub keeps the slice
		m.events = nil
	}
	return res
}

func (m *kvMachine) AppliedThrough(index uint64) { m.hub.Advance(index) }

func (m *kvMachine) Restore(r io.Reader) error {
	if err := m.Store.Restore(r); err != nil {
		return err
	}
	m.hub.Reset(m.Store.Applied())
	return nil
}

func (m *kvMachine) Snapshot() (io.WriterTo, error) { return m.Store.Snapshot(), nil }

// Open opens (creating if needed) the database in dir. With no peers it is
// a single-node database with no network listener, which cannot add
// members; with only itself as "id=host:port" it is a single node that
// listens and can grow. Otherwise peers lists
// every voter of a new cluster as "id=host:port" (this node included, named
// by WithID), and peer traffic must be secured with WithClusterSecret or
// WithTLS, or explicitly left open with WithInsecure.
//
// The node's identity and the cluster's initial peers are recorded in dir
// (yggr.json). Reopening with a different id is an error (ErrConfig). The
// peers given to a reopen are ignored, with a warning if they differ from
// those recorded, as etcd ignores --initial-cluster once it has data: the
// membership is in the log, and changes after creation go through
// AddVoter, AddLearner, Promote and RemoveMember, not through Open, so a
// service definition that passes its original peers keeps working.
func Open(dir string, peers []string, opts ...Option) (*DB, error) {
	o, err := parseOptions(opts)
	if err != nil {
		return nil, err
	}
	db := &DB{kv: kv.New(), opts: o, logger: o.logger,
		hub:       watch.New(0, watch.Options{CacheBytes: o.watchCache, BufferBytes: o.watchBuffer}),
		replaySem: make(chan struct{}, 1),
		lessor:    newLessor(),
		limits:    o.limits}
	if o.tracer != nil {
		db.tracer = o.tracer.Tracer("github.com/yggrdb/yggr")
	}
	ecfg, err := db.replica.open(dir, peers, o, func(c *node.Config) {
		c.StateMachine = newKVMachine(db.kv, db.hub)
		c.LeaderCall = db.serveLeaderCall
	})
	if err != nil {
		return nil, err
	}
	tick := o.tick
	db.leaseCtx, db.leaseCancel = context.WithCancel(context.Background())
	db.leaseWG.Add(1)
	// The lease expiry goroutine: owned by the DB, ends at Close. A revoke
	// that does not apply is proposed again after two election timeouts.
	go db.expiryLoop(tick, 2*time.Duration(ecfg.ElectionTicks)*tick)
	return db, nil
}

// Close stops the node and releases its resources. Pending calls fail with
// ErrClosed. A snapshot being written is finished first, at the disk's
// speed, for up to 10 s (see WithSnapshotWriteRate); after that it is
// abandoned and the next Open replays the log it would have covered.
func (db *DB) Close() error {
	db.leaseCancel()
	db.leaseWG.Wait()
	db.hub.Close()
	return db.replica.close()
}

// ID returns this node's ID.
func (db *DB) ID() string { return string(db.id) }

// Consistency is how a read is served.
type Consistency int

const (
	// Linearizable reads see every write acknowledged before they started
	// (ReadIndex: the leader confirms it still leads with a heartbeat
	// round). The default.
	Linearizable Consistency = iota
	// Lease reads are linearizable as long as clock drift stays within the
	// configured margin; the leader skips the heartbeat round while its
	// lease holds. Needs WithLeaseReads.
	Lease
	// Stale reads are served from this node's copy at once; they may miss
	// recent writes (see AtLeast).
	Stale
)

func (c Consistency) String() string {
	switch c {
	case Linearizable:
		return "linearizable"
	case Lease:
		return "lease"
	case Stale:
		return "stale"
	}
	return fmt.Sprintf("Consistency(%d)", int(c))
}

// ParseConsistency parses "linearizable", "lease" or "stale".
func ParseConsistency(s string) (Consistency, error) {
	for _, c := range []Consistency{Linearizable, Lease, Stale} {
		if c.String() == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown consistency %q (want linearizable, lease or stale)", ErrInvalid, s)
}

// ReadOption configures a read.
//
// Options take and return the settings by value: a pointer handed to an
// option (a function the compiler cannot see through) would move the
// settings of every read to the heap.
type ReadOption func(readOptions) readOptions

type readOptions struct {
	consistency Consistency
	atLeast     uint64
	revision    *uint64
}

// WithConsistency sets the read's consistency level.
func WithConsistency(c Consistency) ReadOption {
	return func(r readOptions) readOptions { r.consistency = c; return r }
}

// AtLeast makes a read wait until this node has applied index (for
// example the index a write returned): read-your-writes at Stale
// consistency.
func AtLeast(index uint64) ReadOption {
	return func(r readOptions) readOptions { r.atLeast = index; return r }
}

// ReadRevision stores in *rev the revision the read was served at: the
// log index of the last command applied to the state it read, which
// reflects every change up to that revision and none after. Watch from
// *rev+1 (FromRevision) to follow what was read without a gap. With
// List, every page is read at its own revision.
func ReadRevision(rev *uint64) ReadOption {
	return func(r readOptions) readOptions { r.revision = rev; return r }
}

// ReadSettings are what a list of ReadOptions selects, for a client that
// has a read served elsewhere (httpapi.Client sends them to a node).
type ReadSettings struct {
	Consistency Consistency // default Linearizable
	AtLeast     uint64      // the index to wait for (AtLeast); 0: none
	Revision    *uint64     // where ReadRevision stores the revision; nil: not asked
}

// ReadSettingsOf returns the settings opts select.
func ReadSettingsOf(opts ...ReadOption) ReadSettings {
	ro := readOpts(opts)
	return ReadSettings{Consistency: ro.consistency, AtLeast: ro.atLeast, Revision: ro.revision}
}

func readOpts(opts []ReadOption) readOptions {
	var ro readOptions
	for _, o := range opts {
		ro = o(ro)
	}
	return ro
}

// setRevision reports the revision a read was served at, if asked.
func (ro readOptions) setRevision(rev uint64) {
	if ro.revision != nil {
		*ro.revision = rev
	}
}

// readBarrier waits until a read at the requested consistency may be
// served from the local state machine, and returns the index it is served
// at.
func (db *DB) readBarrier(ctx context.Context, ro readOptions) (uint64, error) {
	if db.tracer != nil {
		trace.SpanFromContext(ctx).SetAttributes(attribute.String("yggr.consistency", ro.consistency.String()))
	}
	return db.barrier(ctx, ro)
}

// barrier is readBarrier without tracing.
func (r *replica) barrier(ctx context.Context, ro readOptions) (uint64, error) {
	var index uint64
	var err error
	switch ro.consistency {
	case Linearizable:
		index, err = r.node.ReadIndex(ctx, node.ReadIndex)
	case Lease:
		if !r.lease {
			return 0, ErrLeaseDisabled
		}
		index, err = r.node.ReadIndex(ctx, node.ReadLease)
	case Stale:
		// A node whose disk failed serves nothing, not even its own copy.
		if err = r.node.StorageFailure(); err == nil {
			index = r.node.Applied()
		}
	default:
		return 0, fmt.Errorf("%w: consistency %d", ErrInvalid, ro.consistency)
	}
	if err != nil {
		return 0, err
	}
	if ro.atLeast > index {
		if err := r.node.WaitApplied(ctx, ro.atLeast); err != nil {
			return 0, err
		}
		index = ro.atLeast
	}
	return index, nil
}

// Item is a key with its value and history; see GetItem and Scan. (An
// alias of the state machine's type: its fields are listed here for go doc.)
//
//	type Item struct {
//		Key, Value []byte
//		// CreateIndex is the log index that created the key, since its
//		// last deletion. 1 <= CreateIndex <= ModIndex.
//		CreateIndex uint64
//		// ModIndex is the log index of the last modification.
//		ModIndex uint64
//		// Version is the number of modifications since creation: 1 on
//		// create, +1 per put (two puts to one key in one transaction
//		// count twice).
//		Version uint64
//	}
type Item = kv.Item

// Get returns the value of key, or ErrNotFound. The returned slice belongs
// to the caller.
func (db *DB) Get(ctx context.Context, key []byte, opts ...ReadOption) (v []byte, err error) {
	ctx, span := db.span(ctx, "yggr.Get")
	defer func() { endSpan(span, err) }()
	if err := db.checkKey(key); err != nil {
		return nil, err
	}
	ro := readOpts(opts)
	if _, err := db.readBarrier(ctx, ro); err != nil {
		return nil, err
	}
	// GetItem without the copy of the key: one allocation, the value's.
	v, ok, rev := db.kv.GetValueAt(key)
	ro.setRevision(rev)
	if !ok {
		return nil, ErrNotFound
	}
	return v, nil
}

// GetItem returns the item of key (value, create and modification index,
// version), or ErrNotFound.
func (db *DB) GetItem(ctx context.Context, key []byte, opts ...ReadOption) (it Item, err error) {
	ctx, span := db.span(ctx, "yggr.Get")
	defer func() { endSpan(span, err) }()
	if err := db.checkKey(key); err != nil {
		return Item{}, err
	}
	ro := readOpts(opts)
	if _, err := db.readBarrier(ctx, ro); err != nil {
		return Item{}, err
	}
	it, ok, rev := db.kv.GetAt(key)
	ro.setRevision(rev)
	if !ok {
		return Item{}, ErrNotFound
	}
	return it, nil
}

// Scan returns the items with start ≤ key < end in key order (end nil: to
// the last key), read at one point in time at the requested consistency
// (ReadRevision tells which, before the first item is yielded). The
// iterator yields a single error (and stops) if the read cannot be
// served.
func (db *DB) Scan(ctx context.Context, start, end []byte, opts ...ReadOption) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		ro := readOpts(opts)
		if _, err := db.readBarrier(ctx, ro); err != nil {
			yield(Item{}, err)
			return
		}
		items, rev := db.kv.RangeAt(start, end)
		ro.setRevision(rev)
		for it := range items {
			if !yield(it, nil) {
				return
			}
		}
	}
}

// List returns up to limit items (limit ≤ 0: all) with start ≤ key < end,
// and whether more remain.
func (db *DB) List(ctx context.Context, start, end []byte, limit int, opts ...ReadOption) (_ []Item, _ bool, err error) {
	ctx, span := db.span(ctx, "yggr.List")
	defer func() { endSpan(span, err) }()
	ro := readOpts(opts)
	if _, err := db.readBarrier(ctx, ro); err != nil {
		return nil, false, err
	}
	items, more, rev := db.kv.ScanAt(start, end, limit)
	ro.setRevision(rev)
	return items, more, nil
}

// PrefixEnd returns the smallest key greater than every key with the given
// prefix (nil if there is none), for Scan(ctx, prefix, PrefixEnd(prefix)).
func PrefixEnd(prefix []byte) []byte {
	end := slices.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Put sets key to value. It returns once the write is committed and
// applied by the leader (a follower forwards it there): a linearizable
// read anywhere sees it, a Stale read on a follower may not yet (AtLeast
// with PutIndex's index waits for it). WithLease attaches the key to a
// lease.
func (db *DB) Put(ctx context.Context, key, value []byte, opts ...PutOption) (err error) {
	ctx, span := db.span(ctx, "yggr.Put")
	defer func() { endSpan(span, err) }()
	if err := db.limits.CheckPut(key, value); err != nil {
		return mapKVError(err)
	}
	var po putOptions
	for _, o := range opts {
		po = o(po)
	}
	_, err = db.propose(ctx, kv.EncodePutLease(key, value, uint64(po.lease)))
	return err
}

// Delete removes key; deleting a missing key is not an error.
func (db *DB) Delete(ctx context.Context, key []byte) (err error) {
	ctx, span := db.span(ctx, "yggr.Delete")
	defer func() { endSpan(span, err) }()
	if err := db.checkKey(key); err != nil {
		return err
	}
	_, err = db.propose(ctx, kv.EncodeDelete(key))
	return err
}

// propose replicates a command and decodes its result.
func (db *DB) propose(ctx context.Context, cmd []byte) (kv.Result, error) {
	data, _, err := db.node.Propose(ctx, cmd)
	return proposed(data, err)
}

// proposed is the state machine's result of a proposal that returned data
// and err.
func proposed(data []byte, err error) (kv.Result, error) {
	if err != nil {
		return kv.Result{}, err
	}
	res, err := kv.DecodeResult(data)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if res.Err != "" {
		return res, fmt.Errorf("%w: %s", ErrInvalid, res.Err)
	}
	if res.LeaseNotFound {
		return res, fmt.Errorf("%w (the command changed nothing)", ErrLeaseNotFound)
	}
	return res, nil
}

func (db *DB) checkKey(key []byte) error { return mapKVError(db.limits.CheckKey(key)) }

// mapKVError translates internal/kv's errors into the root's sentinels,
// keeping one prefix: "yggr: invalid argument: empty key", "yggr: invalid
// argument: then request 0: empty key".
func mapKVError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kv.ErrTooLarge):
		return fmt.Errorf("%w: %s", ErrTooLarge, strings.Replace(err.Error(), kv.ErrTooLarge.Error()+": ", "", 1))
	case errors.Is(err, kv.ErrInvalid):
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Replace(err.Error(), kv.ErrInvalid.Error()+": ", "", 1))
	}
	return err
}
