package node

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/durable"
	raftlog "github.com/yggrdb/yggr/log"
	"github.com/yggrdb/yggr/snapshot"
)

// Node is one running member of a cluster. Its methods are safe for
// concurrent use.
type Node struct {
	cfg   Config
	logs  *raftlog.Store
	snaps *snapshot.Store
	net   Network
	sm    StateMachine
	addrs *addrBook
	w     *waiters

	// Inputs of the driver.
	proposals chan engine.Proposal
	// proposeEachRetries counts the commands a leader's ProposeEach
	// handed to Propose after a retryable error (tests).
	proposeEachRetries atomic.Uint64
	events             chan engine.Event

	applyQ *applyQueue
	// replaying is set while start replays the log into the state
	// machine (replayLog), before any other goroutine runs;
	// replayedConfig records that a config entry was among what it
	// applied.
	replaying, replayedConfig bool

	status atomic.Pointer[engine.Status]
	// lease and commit are published by the driver for lease reads
	// (lease.go).
	lease  atomic.Pointer[leaseGrant]
	commit atomic.Uint64
	// leaderCh is closed and replaced whenever the role, term or leader
	// changes, so callers can wait for a leader. Only the driver replaces
	// it; every request reads it, without a lock.
	leaderCh atomic.Pointer[chan struct{}]
	// termStart marks an entry of the leader's term (confready.go); only
	// the driver stores it, in publishStatus.
	termStart atomic.Pointer[termMark]

	metrics metrics
	disk    *diskGuard // nil: no free-space check
	// fatal is set when storage failed.
	fatal atomic.Pointer[fatal]
	// addrsWanted asks the address goroutine to fill missing addresses
	// (addrsync.go).
	addrsWanted chan struct{}
	// peerMu guards peerMembers, the configuration whose members the
	// transport's peers are, and orders every SetPeer and RemovePeer
	// (addrsync.go).
	peerMu      sync.Mutex
	peerMembers engine.Membership
	snapDone    chan snapDone
	snapReq     chan chan snapDone
	// compactCh carries the newest compaction index to the compactor.
	compactCh chan uint64
	// pins holds the log for history readers (history.go).
	pins historyPins

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	d  driverState  // owned by the driver goroutine
	st storageState // owned by the storage goroutine

	// jobs carries storage jobs from the driver to the storage goroutine;
	// persisted carries durability reports back.
	jobs      chan storeJob
	persisted chan engine.Entry
	// termVoteInFlight counts queued jobs that change the term or vote:
	// while any is not durable, MsgApps wait too.
	termVoteInFlight atomic.Int32
	// applyInFlight counts queued jobs carrying committed entries or a
	// snapshot restore: while any is queued, later entries queue behind it.
	applyInFlight atomic.Int32
	// writeStarted is when the storage write in progress started (unix
	// nanoseconds; 0 when idle), for disk-stall detection.
	writeStarted atomic.Int64
}

// Start opens the node's storage, restores its state machine from the
// newest snapshot, applies the log it knows committed above it
// (replayLog), recovers the engine and starts the driver and apply
// goroutines. A Start that fails may leave the state machine with part of
// that log applied: the next Start needs a fresh one. A damaged file (a log record, a write-ahead log segment, a
// snapshot chunk or manifest that fails verification or is truncated) is
// an error wrapping ErrCorrupt that names the file and what is wrong: the
// node refuses to start rather than serve wrong data.
func Start(cfg Config) (*Node, error) {
	n, err := start(cfg)
	if err != nil && !errors.Is(err, ErrCorrupt) && (errors.Is(err, raftlog.ErrCorrupt) || errors.Is(err, snapshot.ErrCorrupt)) {
		err = fmt.Errorf("%w: the node cannot start: %w (rebuild it from the cluster: docs/disk-faults.md)", ErrCorrupt, err)
	}
	return n, err
}

func start(cfg Config) (*Node, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:         cfg,
		net:         cfg.Network,
		sm:          cfg.StateMachine,
		w:           newWaiters(),
		proposals:   make(chan engine.Proposal, cfg.MaxPendingProposals),
		events:      make(chan engine.Event, 4096),
		applyQ:      newApplyQueue(),
		stop:        make(chan struct{}),
		snapDone:    make(chan snapDone, 1),
		addrsWanted: make(chan struct{}, 1),
		snapReq:     make(chan chan snapDone, 16),
		compactCh:   make(chan uint64, 1),
		jobs:        make(chan storeJob, maxJobs),
		persisted:   make(chan engine.Entry, 4*maxJobs),
	}
	n.metrics.batchSizes.base = 1
	leaderCh := make(chan struct{})
	n.leaderCh.Store(&leaderCh)
	var err error
	if n.addrs, err = newAddrBook(dirOrEmpty(cfg), cfg.Peers); err != nil {
		return nil, err
	}
	if n.snaps, err = snapshot.Open(snapshotDir(cfg), snapshot.Options{Logger: cfg.Logger, History: cfg.History, WriteBytesPerSec: cfg.SnapshotWriteBytesPerSec}); err != nil {
		return nil, err
	}
	// Restore the newest snapshot while the log opens and loads (restore
	// uses it whatever the log holds, or fails): the two are independent,
	// and restoring a large state is the larger part of Open (issue 15).
	pre := n.startRestore()
	n.logs, err = raftlog.Open(cfg.Dir, raftlog.Options{
		Logger: cfg.Logger, InMemory: cfg.InMemory, ClusterID: cfg.ClusterID, NodeID: string(cfg.ID), FirstOpen: cfg.FirstOpen, NoSync: cfg.NoSync,
		OnFail: n.setFatal, // a failed checkpoint stops the node at once, not at its next write
	})
	if err != nil {
		pre.wait()
		return nil, err
	}
	n.disk = newDiskGuard(cfg)
	// The engine first: once restore has replayed the log into the state
	// machine, nothing that could have failed before it should fail.
	eng, err := n.newEngine()
	if err != nil {
		pre.wait()
		n.logs.Close()
		return nil, err
	}
	rec, err := n.restore(pre)
	if err != nil {
		n.logs.Close()
		return nil, err
	}
	n.d.eng = eng
	n.d.lastHS = rec.HardState
	// Recover the engine before the driver starts, so that a single-node
	// database leads by the time Start returns.
	acts := eng.Step(rec)
	rec = engine.Recover{} // the entries' headers are the engine's now
	if n.net != nil {
		if m := eng.Status().Membership; len(m.Members()) > 0 {
			// The recovered configuration's members, not every address
			// in the book: a removed member is no peer.
			n.setPeers(m)
		} else {
			// A joining node has no configuration yet to judge its
			// book by.
			for id, addr := range n.addrs.all() {
				if id != cfg.ID && addr != "" {
					n.net.SetPeer(id, addr)
				}
			}
		}
		n.net.SetCallHandler(n.handleCall)
		n.wg.Add(1)
		// The address goroutine: owned by the Node, ends when stop closes.
		go n.addrLoop()
	}
	if n.replayedConfig {
		// The config entries replayed forgot no address (applyEntries):
		// the members they removed are forgotten now that the recovered
		// configuration, which may name them again, is known.
		n.forgetRemoved(n.applyQ.membership)
	}
	n.wg.Add(4)
	// The apply goroutine: owned by the Node, ends when stop closes.
	go n.applyLoop()
	// The storage goroutine: owned by the Node, ends when stop closes.
	go n.storageLoop()
	// The compactor goroutine: owned by the Node, ends when stop closes.
	go n.compactLoop()
	n.publishLease()
	n.execute(acts)
	n.maybeElectAlone()
	n.publishStatus()
	// The driver goroutine: owned by the Node, ends when stop closes.
	go n.run()
	return n, nil
}

// newEngine makes the node's engine, not yet recovered.
func (n *Node) newEngine() (*engine.Engine, error) {
	ecfg := n.cfg.Engine
	ecfg.ID = n.cfg.ID
	if !n.cfg.Join {
		ecfg.Peers = n.bootstrapVoters()
	}
	ecfg.Seed = seed(n.cfg.ID)
	var err error
	if ecfg.Incarnation, err = nextIncarnation(dirOrEmpty(n.cfg)); err != nil {
		return nil, err
	}
	return engine.New(ecfg)
}

// bootstrapVoters are the voters of a new cluster: Config.Voters, else
// the configured peers, or this node alone.
func (n *Node) bootstrapVoters() []engine.NodeID {
	if len(n.cfg.Voters) > 0 {
		return slices.Sorted(slices.Values(n.cfg.Voters))
	}
	if len(n.cfg.Peers) == 0 {
		return []engine.NodeID{n.cfg.ID}
	}
	return slices.Sorted(maps.Keys(n.cfg.Peers))
}

// nextIncarnation counts the starts of the node in dir/incarnation, so
// that every start gets a new engine.Config.Incarnation.
func nextIncarnation(dir string) (uint64, error) {
	if dir == "" {
		return memIncarnation.Add(1), nil
	}
	path := filepath.Join(dir, "incarnation")
	var n uint64
	switch data, err := os.ReadFile(path); {
	case err == nil:
		if n, err = strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64); err != nil {
			return 0, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
	case !os.IsNotExist(err):
		return 0, err
	}
	n++
	if err := durable.WriteFile(path, []byte(strconv.FormatUint(n, 10)+"\n")); err != nil {
		return 0, err
	}
	return n, nil
}

// memIncarnation numbers the starts of in-memory nodes in this process.
var memIncarnation atomic.Uint64

func dirOrEmpty(cfg Config) string {
	if cfg.InMemory {
		return ""
	}
	return cfg.Dir
}

func snapshotDir(cfg Config) string { return cfg.Dir }

// seed derives the engine's PCG seed from the node ID and the start time,
// so that nodes of one cluster draw different election timeouts.
func seed(id engine.NodeID) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64() ^ uint64(time.Now().UnixNano())
}

// preRestore is the restore of the snapshot store's newest snapshot into
// the state machine that start runs on a goroutine while the log opens.
type preRestore struct {
	meta engine.SnapshotMeta // zero Index: no snapshot, nothing restored
	done chan struct{}       // closed when book and err are set
	book map[engine.NodeID]string
	err  error
}

// startRestore starts restoring the newest snapshot, if there is one.
func (n *Node) startRestore() *preRestore {
	p := &preRestore{done: make(chan struct{})}
	latest, ok := n.snaps.Latest()
	if !ok || latest.Index == 0 {
		close(p.done)
		return p
	}
	p.meta = latest
	// The restoring goroutine: owned by start, which waits for it (wait)
	// before it returns on every path.
	go func() {
		defer close(p.done)
		p.book, p.err = n.readSnapshot(latest)
	}()
	return p
}

// wait waits for the restore to end and returns its result.
func (p *preRestore) wait() (map[engine.NodeID]string, error) {
	<-p.done
	return p.book, p.err
}

// restore picks the newest snapshot, restores the state machine from it
// (pre has restored the store's newest, or is restoring it) and returns
// the engine's Recover event.
func (n *Node) restore(pre *preRestore) (engine.Recover, error) {
	book, preErr := pre.wait() // whatever happens next, pre has ended
	st, err := n.logs.LoadMeta()
	if err != nil {
		return engine.Recover{}, err
	}
	for _, d := range st.Dropped {
		n.cfg.Logger.Warn("dropped torn log record on recovery", "node", n.cfg.ID, "detail", d)
	}
	snap := st.Snapshot
	if latest, ok := n.snaps.Latest(); ok && latest.Index >= snap.Index {
		snap = latest
	} else if snap.Index > 0 {
		return engine.Recover{}, fmt.Errorf("%w: the log records snapshot %s but the snapshot store has none that new", ErrCorrupt, snap)
	}
	if snap.Index > 0 {
		if snap.Index != pre.meta.Index || snap.Term != pre.meta.Term {
			// Unreachable: snap is the store's newest, which pre restored.
			return engine.Recover{}, fmt.Errorf("restoring snapshot %s: restored %s instead", snap, pre.meta)
		}
		if preErr != nil {
			return engine.Recover{}, preErr
		}
		n.installBook(book)
	}
	base := snap
	if snap.Index == 0 && !n.cfg.Join {
		// A new cluster's configuration is its bootstrap peers until a
		// config entry or snapshot says otherwise.
		base.Membership = engine.NewMembership(n.bootstrapVoters(), nil)
	}
	n.applyQ.setBase(base)
	n.w.setApplied(snap.Index)
	rec := engine.Recover{HardState: st.HardState, Snapshot: snap}
	if last := n.logs.LastIndex(); last > snap.Index {
		// Sized once: grown by appends, the headers of a long log took
		// up to twice their size while the engine copied them.
		rec.Entries = make([]engine.Entry, 0, last-snap.Index)
		rec.Sizes = make([]uint32, 0, last-snap.Index)
	}
	if err := n.replayLog(&rec); err != nil {
		return engine.Recover{}, err
	}
	return rec, nil
}

// replayPieceBytes bounds the log data replayLog reads into memory at once.
var replayPieceBytes uint64 = 4 << 20 // a variable for tests

// replayLog reads the log after r.Snapshot piece by piece and applies the
// committed entries to the state machine as it reads them, so that a node
// with a long log to replay never holds that log's data in memory at once:
// the engine gets those entries without their data (Recover.Applied and
// Sizes) and asks for it back only to send them. Before, Start loaded the
// whole log first. TestFootprint1M (1M keys, then 100k single puts, the
// reopen replaying ~100k entries), old and new binaries alternated, three
// pairs: the reopen's VmHWM went from 400-420 MiB to 333-337 MiB, its heap
// in use at the first read from 110-238 MiB to 89-98 MiB, and the first
// read came 1.36-1.45 s after the start instead of 1.51-1.71 s.
//
// The entries applied are the log the engine's Recover keeps (contiguous,
// terms never decreasing) up to the durable commit index; the rest keep
// their data and the engine handles them as before.
func (n *Node) replayLog(r *engine.Recover) error {
	prevIndex, prevTerm := r.Snapshot.Index, r.Snapshot.Term
	applying := true
	n.replaying = true
	defer func() { n.replaying = false }()
	return n.logs.Replay(r.Snapshot.Index+1, replayPieceBytes, func(es []engine.Entry) error {
		k := 0 // es[:k] is applied here
		for applying && k < len(es) {
			e := es[k]
			if e.Index != prevIndex+1 || e.Term < prevTerm || e.Index > r.HardState.Commit {
				applying = false
				break
			}
			prevIndex, prevTerm = e.Index, e.Term
			k++
		}
		if k > 0 {
			n.applyEntries(es[:k], time.Now())
			r.Applied = prevIndex
		}
		for i, e := range es {
			r.Sizes = append(r.Sizes, uint32(len(e.Data)))
			switch {
			case i >= k || e.Type == engine.EntryConfig:
				// Its own copy: Data is lent by Replay, for this piece.
				e.Data = slices.Clone(e.Data)
				if i < k {
					n.replayedConfig = true
				}
			default:
				e.Data = nil
			}
			r.Entries = append(r.Entries, e)
		}
		return nil
	})
}

// restoreSnapshot replaces the state machine with snapshot meta.
func (n *Node) restoreSnapshot(meta engine.SnapshotMeta) error {
	book, err := n.readSnapshot(meta)
	if err != nil {
		return err
	}
	n.installBook(book)
	return nil
}

// readSnapshot replaces the state machine with snapshot meta and returns
// the snapshot's address book.
func (n *Node) readSnapshot(meta engine.SnapshotMeta) (map[engine.NodeID]string, error) {
	r, err := n.snaps.Open(meta.Index, meta.Term)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	book, err := readSnapshotStream(r, n.sm)
	if err != nil {
		return nil, fmt.Errorf("restoring snapshot %s: %w", meta, err)
	}
	return book, nil
}

// installBook installs a restored snapshot's address book.
func (n *Node) installBook(book map[engine.NodeID]string) {
	n.addrs.replace(book)
	if n.net != nil {
		// The configuration took effect when the snapshot was
		// received, before its book was here.
		n.refreshPeers()
	}
}

// Close stops the node: waiters fail with ErrClosed, goroutines end, and
// storage is closed. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.lease.Store(nil)
		close(n.stop)
		n.wg.Wait()
		n.w.failAll(ErrClosed)
		var errs []error
		if n.net != nil {
			n.net.SetCallHandler(nil)
		}
		if n.st.receiver != nil {
			errs = append(errs, n.st.receiver.Close())
		}
		errs = append(errs, n.logs.Close())
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// ID returns the node's ID.
func (n *Node) ID() engine.NodeID { return n.cfg.ID }

// Status returns the engine's state as of the driver's last iteration.
func (n *Node) Status() engine.Status {
	s := *n.status.Load()
	s.Applied = n.Applied()
	return s
}

// Applied returns the index of the last entry applied to the state machine.
func (n *Node) Applied() uint64 {
	return n.w.appliedFast.Load()
}

// Addr returns the peer address recorded for a member.
func (n *Node) Addr(id engine.NodeID) string { return n.addrs.get(id) }

// Addrs returns every recorded peer address.
func (n *Node) Addrs() map[engine.NodeID]string { return n.addrs.all() }

// publishStatus makes the engine's status visible to Status, wakes leader
// waiters when the leader changed, and asks for the addresses of members
// this node cannot dial (addrsync.go), whether it leads or not.
func (n *Node) publishStatus() {
	s := n.d.eng.Status()
	n.noteTermStart(&s)
	old := n.status.Swap(&s)
	newLeader := old == nil || old.Leader != s.Leader
	if newLeader || old.Term != s.Term || old.Role != s.Role {
		ch := make(chan struct{})
		close(*n.leaderCh.Swap(&ch))
	}
	if (newLeader || n.d.membershipNew) && n.net != nil && n.lacksAddrs(s.Membership) {
		n.wantAddrs()
	}
	n.d.membershipNew = false
}

// leaderChanged returns a channel closed at the next leader change.
func (n *Node) leaderChanged() <-chan struct{} {
	return *n.leaderCh.Load()
}

// WaitLeader blocks until the node knows a leader, or ctx ends.
func (n *Node) WaitLeader(ctx context.Context) (engine.NodeID, error) {
	for {
		ch := n.leaderChanged()
		if l := n.status.Load().Leader; l != "" {
			return l, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
		case <-n.stop:
			return "", ErrClosed
		}
	}
}

// WaitApplied blocks until the state machine has applied index.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	return n.w.waitApplied(ctx, index, n.stop)
}

// submit hands an event to the driver without blocking.
func (n *Node) submit(ev engine.Event) error {
	if err := n.fatalErr(); err != nil {
		return err
	}
	select {
	case <-n.stop:
		return ErrClosed
	default:
	}
	select {
	case n.events <- ev:
		return nil
	default:
		return ErrBusy
	}
}
