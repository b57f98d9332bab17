package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Timing and flow control of the etcd harness (the brief's raftexample-like
// settings): a 10 ms tick, election after 10 ticks (100–200 ms randomised),
// a heartbeat every tick.
const (
	etcdTick          = 10 * time.Millisecond
	etcdElectionTicks = 10
	etcdMaxSizePerMsg = 1 << 20
	etcdMaxInflight   = 256
)

var (
	errEtcdStopped   = errors.New("bench: etcd: node stopped")
	errEtcdLeader    = errors.New("bench: etcd: leader changed during read")
	errEtcdBadCmd    = errors.New("bench: etcd: bad command")
	errEtcdSnapshots = errors.New("bench: etcd: snapshots are not supported by the harness")
)

// etcdBootstrap is the state every node starts from: a synthetic snapshot at
// 1/1 whose configuration is the three voters, so that no configuration
// change entries are needed (the bootstrap etcd raft's docs recommend).
func etcdBootstrap() *pb.Snapshot {
	return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(uint64(1)), Term: new(uint64(1)),
		ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}
}

// etcdNode is one node of the harness: a raft.RawNode driven by one loop
// goroutine, a MemoryStorage rebuilt from the node's WAL at start, the TCP
// transport and a map state machine rebuilt by re-applying the log.
type etcdNode struct {
	id    uint64
	dir   string
	addr  string
	peers map[uint64]string

	// Owned by the loop goroutine.
	rn      *raft.RawNode
	storage *raft.MemoryStorage
	wal     *etcdWAL
	reads   map[string][]chan error // ReadIndex context -> waiting reads
	pending []etcdPendingRead       // read states whose index is not applied yet
	lead    uint64

	trans *etcdTransport

	propc    chan etcdProposal
	readc    chan chan error
	recvc    chan *pb.Message
	unreachc chan uint64
	stopc    chan struct{}
	done     chan struct{}

	mu sync.Mutex
	kv map[string][]byte

	wmu     sync.Mutex
	waiters map[uint64]chan error // proposals by request ID
	reqBase uint64                // random per incarnation: re-applied old entries wake nobody
	reqSeq  atomic.Uint64
	readSeq uint64 // loop-owned

	role    atomic.Uint32 // raft.StateType
	commit  atomic.Uint64
	applied atomic.Uint64
	loopErr atomic.Pointer[error]
}

type etcdProposal struct {
	id   uint64
	data []byte
}

type etcdPendingRead struct {
	index uint64
	chans []chan error
}

// encodeEtcdCmd is the entry payload: u64 request ID, uvarint key length,
// key, value.
func encodeEtcdCmd(id uint64, key, value []byte) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+2+len(key)+len(value)), id)
	b = binary.AppendUvarint(b, uint64(len(key)))
	return append(append(b, key...), value...)
}

func decodeEtcdCmd(b []byte) (id uint64, key, value []byte, err error) {
	if len(b) < 9 {
		return 0, nil, nil, errEtcdBadCmd
	}
	id = binary.BigEndian.Uint64(b)
	n, k := binary.Uvarint(b[8:])
	if k <= 0 || uint64(len(b)-8-k) < n {
		return 0, nil, nil, errEtcdBadCmd
	}
	key = b[8+k : 8+k+int(n)]
	return id, key, b[8+k+int(n):], nil
}

// raftLogger silences etcd raft's logging (slog at debug level) and keeps
// its panics.
type raftLogger struct{}

func (raftLogger) Debug(v ...any)                 {}
func (raftLogger) Debugf(format string, v ...any) {}
func (raftLogger) Info(v ...any)                  {}
func (raftLogger) Infof(format string, v ...any)  {}
func (raftLogger) Warning(v ...any)               { slog.Debug("etcd raft: " + fmt.Sprint(v...)) }
func (raftLogger) Warningf(format string, v ...any) {
	slog.Debug("etcd raft: " + fmt.Sprintf(format, v...))
}
func (raftLogger) Error(v ...any) { slog.Debug("etcd raft: " + fmt.Sprint(v...)) }
func (raftLogger) Errorf(format string, v ...any) {
	slog.Debug("etcd raft: " + fmt.Sprintf(format, v...))
}
func (raftLogger) Fatal(v ...any)                 { panic(fmt.Sprint(v...)) }
func (raftLogger) Fatalf(format string, v ...any) { panic(fmt.Sprintf(format, v...)) }
func (raftLogger) Panic(v ...any)                 { panic(fmt.Sprint(v...)) }
func (raftLogger) Panicf(format string, v ...any) { panic(fmt.Sprintf(format, v...)) }

// startEtcdNode opens the node's WAL, rebuilds its MemoryStorage, starts
// its transport on ln (or on a new listener at addr if ln is nil) and its
// loop.
func startEtcdNode(id uint64, dir string, ln net.Listener, addr string, peers map[uint64]string) (*etcdNode, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	wal, hs, ents, err := openEtcdWAL(filepath.Join(dir, "wal"))
	if err != nil {
		return nil, err
	}
	storage := raft.NewMemoryStorage()
	if err := storage.ApplySnapshot(etcdBootstrap()); err != nil {
		wal.close()
		return nil, err
	}
	if hs == nil {
		hs = &pb.HardState{Term: new(uint64(1)), Commit: new(uint64(1))}
	}
	if err := storage.Append(ents); err != nil {
		wal.close()
		return nil, err
	}
	if err := storage.SetHardState(hs); err != nil {
		wal.close()
		return nil, err
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID: id, ElectionTick: etcdElectionTicks, HeartbeatTick: 1, Storage: storage,
		// The map state machine is rebuilt from the log: apply from the start.
		Applied:       1,
		MaxSizePerMsg: etcdMaxSizePerMsg, MaxInflightMsgs: etcdMaxInflight,
		CheckQuorum: true, PreVote: true,
		// Writes go to the leader; a follower refuses at once.
		DisableProposalForwarding: true,
		Logger:                    raftLogger{},
	})
	if err != nil {
		wal.close()
		return nil, err
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", addr); err != nil {
			wal.close()
			return nil, err
		}
	}
	var rb [8]byte
	rand.Read(rb[:])
	n := &etcdNode{id: id, dir: dir, addr: ln.Addr().String(), peers: peers, rn: rn, storage: storage, wal: wal,
		reads: map[string][]chan error{}, propc: make(chan etcdProposal, 1024), readc: make(chan chan error, 1024),
		recvc: make(chan *pb.Message, 4096), unreachc: make(chan uint64, 64), stopc: make(chan struct{}),
		done: make(chan struct{}), kv: map[string][]byte{}, waiters: map[uint64]chan error{},
		reqBase: binary.BigEndian.Uint64(rb[:]) &^ (1<<32 - 1)}
	n.applied.Store(1)
	n.trans = newEtcdTransport(ln, peers, n.deliver, n.reportUnreachable)
	// Owned by the node; ends when stop closes stopc or on a storage error.
	go n.loop()
	return n, nil
}

// deliver hands a received message to the loop; false once stopped.
func (n *etcdNode) deliver(m *pb.Message) bool {
	select {
	case n.recvc <- m:
		return true
	case <-n.done:
		return false
	}
}

func (n *etcdNode) reportUnreachable(id uint64) {
	select {
	case n.unreachc <- id:
	default:
	}
}

// loop is the only goroutine touching rn: it ticks, steps received
// messages, proposes, batches reads into one ReadIndex per iteration, and
// handles Ready.
func (n *etcdNode) loop() {
	defer close(n.done)
	defer n.failAll()
	t := time.NewTicker(etcdTick)
	defer t.Stop()
	var reads []chan error
	for {
		select {
		case <-n.stopc:
			return
		case <-t.C:
			n.rn.Tick()
		case m := <-n.recvc:
			n.step(m)
		case p := <-n.propc:
			n.propose(p)
		case r := <-n.readc:
			reads = append(reads, r)
		case id := <-n.unreachc:
			n.rn.ReportUnreachable(id)
		}
	drain:
		for range 4096 {
			select {
			case m := <-n.recvc:
				n.step(m)
			case p := <-n.propc:
				n.propose(p)
			case r := <-n.readc:
				reads = append(reads, r)
			case id := <-n.unreachc:
				n.rn.ReportUnreachable(id)
			default:
				break drain
			}
		}
		if len(reads) > 0 {
			// One ReadIndex for every read that arrived in this iteration,
			// as etcd's server coalesces concurrent linearizable reads.
			n.readSeq++
			ctx := binary.BigEndian.AppendUint64(nil, n.readSeq)
			n.reads[string(ctx)] = reads
			reads = nil
			n.rn.ReadIndex(ctx)
		}
		if n.rn.HasReady() {
			if err := n.handleReady(n.rn.Ready()); err != nil {
				slog.Error("bench: etcd node stopped", "id", n.id, "err", err)
				n.loopErr.Store(&err)
				return
			}
		}
	}
}

func (n *etcdNode) step(m *pb.Message) {
	// Errors are protocol-level drops (e.g. from a removed peer); raft
	// recovers by retransmission.
	_ = n.rn.Step(m)
}

func (n *etcdNode) propose(p etcdProposal) {
	if err := n.rn.Propose(p.data); err != nil {
		n.finish(p.id, fmt.Errorf("bench: etcd: propose on node %d: %w", n.id, err))
	}
}

// handleReady follows the Ready contract: persist HardState and entries
// (fdatasync if MustSync), append them to MemoryStorage, send messages,
// apply committed entries, release reads, Advance.
func (n *etcdNode) handleReady(rd raft.Ready) error {
	if rd.SoftState != nil {
		n.role.Store(uint32(rd.SoftState.RaftState))
		if rd.SoftState.Lead != n.lead {
			n.lead = rd.SoftState.Lead
			n.failReads(errEtcdLeader)
		}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		return errEtcdSnapshots
	}
	if err := n.wal.save(rd.HardState, rd.Entries, rd.MustSync); err != nil {
		return err
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		return err
	}
	if rd.HardState != nil {
		if err := n.storage.SetHardState(rd.HardState); err != nil {
			return err
		}
		n.commit.Store(rd.HardState.GetCommit())
	}
	n.trans.send(rd.Messages)
	if err := n.apply(rd.CommittedEntries); err != nil {
		return err
	}
	for _, rs := range rd.ReadStates {
		chans, ok := n.reads[string(rs.RequestCtx)]
		if !ok {
			continue
		}
		delete(n.reads, string(rs.RequestCtx))
		n.pending = append(n.pending, etcdPendingRead{index: rs.Index, chans: chans})
	}
	n.releaseReads()
	n.rn.Advance(rd)
	return nil
}

// apply puts committed entries into the map and wakes their proposers.
func (n *etcdNode) apply(ents []*pb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	var done []uint64
	n.mu.Lock()
	for _, e := range ents {
		if e.GetType() != pb.EntryNormal || len(e.GetData()) == 0 {
			continue // the new leader's empty entry
		}
		id, k, v, err := decodeEtcdCmd(e.GetData())
		if err != nil {
			n.mu.Unlock()
			return fmt.Errorf("entry %d/%d: %w", e.GetTerm(), e.GetIndex(), err)
		}
		n.kv[string(k)] = v
		done = append(done, id)
	}
	n.mu.Unlock()
	n.applied.Store(ents[len(ents)-1].GetIndex())
	for _, id := range done {
		n.finish(id, nil)
	}
	return nil
}

// releaseReads wakes the reads whose read index is applied.
func (n *etcdNode) releaseReads() {
	applied := n.applied.Load()
	kept := n.pending[:0]
	for _, p := range n.pending {
		if p.index > applied {
			kept = append(kept, p)
			continue
		}
		for _, c := range p.chans {
			c <- nil
		}
	}
	clear(n.pending[len(kept):])
	n.pending = kept
}

// failReads fails every read in flight (on a leader change their
// ReadIndex may have been dropped).
func (n *etcdNode) failReads(err error) {
	for ctx, chans := range n.reads {
		for _, c := range chans {
			c <- err
		}
		delete(n.reads, ctx)
	}
	for _, p := range n.pending {
		for _, c := range p.chans {
			c <- err
		}
	}
	n.pending = nil
}

// finish wakes the proposer of request id, if it is waiting here.
func (n *etcdNode) finish(id uint64, err error) {
	n.wmu.Lock()
	c, ok := n.waiters[id]
	delete(n.waiters, id)
	n.wmu.Unlock()
	if ok {
		c <- err
	}
}

// failAll fails every waiting proposal and read when the loop ends.
func (n *etcdNode) failAll() {
	n.failReads(errEtcdStopped)
	n.wmu.Lock()
	for id, c := range n.waiters {
		c <- errEtcdStopped
		delete(n.waiters, id)
	}
	n.wmu.Unlock()
}

// put proposes key=value on this node and returns when this node applied
// it; an error at once if this node is not the leader.
func (n *etcdNode) put(ctx context.Context, key, value []byte) error {
	id := n.reqBase + n.reqSeq.Add(1)
	c := make(chan error, 1)
	n.wmu.Lock()
	n.waiters[id] = c
	n.wmu.Unlock()
	forget := func() {
		n.wmu.Lock()
		delete(n.waiters, id)
		n.wmu.Unlock()
	}
	select {
	case n.propc <- etcdProposal{id: id, data: encodeEtcdCmd(id, key, value)}:
	case <-ctx.Done():
		forget()
		return ctx.Err()
	case <-n.done:
		forget()
		return errEtcdStopped
	}
	select {
	case err := <-c:
		return err
	case <-ctx.Done():
		forget()
		return ctx.Err()
	case <-n.done:
		forget()
		return errEtcdStopped
	}
}

// get is a linearizable read: ReadIndex, wait until applied ≥ the read
// index, then read the map. The returned slice must not be modified.
func (n *etcdNode) get(ctx context.Context, key []byte) ([]byte, bool, error) {
	c := make(chan error, 1)
	select {
	case n.readc <- c:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	case <-n.done:
		return nil, false, errEtcdStopped
	}
	select {
	case err := <-c:
		if err != nil {
			return nil, false, err
		}
	case <-ctx.Done():
		return nil, false, ctx.Err()
	case <-n.done:
		return nil, false, errEtcdStopped
	}
	v, ok := n.local(key)
	return v, ok, nil
}

// local reads the map without any consistency check.
func (n *etcdNode) local(key []byte) ([]byte, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.kv[string(key)]
	return v, ok
}

// isLeader reports the role last seen in a Ready.
func (n *etcdNode) isLeader() bool {
	return raft.StateType(n.role.Load()) == raft.StateLeader && n.loopErr.Load() == nil
}

// stop ends the loop, then closes the transport and the WAL.
func (n *etcdNode) stop() error {
	close(n.stopc)
	<-n.done
	var lerr error
	if p := n.loopErr.Load(); p != nil {
		lerr = *p
	}
	return errors.Join(lerr, n.trans.close(), n.wal.close())
}
