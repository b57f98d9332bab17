package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Timeouts for hashicorp/raft on loopback: DefaultConfig has 1 s heartbeat
// and election timeouts; these match yggr's default 500 ms minimum election
// timeout. Everything else is raft.DefaultConfig().
const (
	hcHeartbeat = 500 * time.Millisecond
	hcElection  = 500 * time.Millisecond
	hcLease     = 250 * time.Millisecond
)

// kvFSM is a trivial map state machine. Commands are
// uvarint(len(key)) key value.
type kvFSM struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (f *kvFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	if len(l.Data) > 0 && l.Data[0] == 0 {
		return f.applyBatch(l.Data[1:])
	}
	n, k := binary.Uvarint(l.Data)
	if k <= 0 || uint64(len(l.Data)-k) < n {
		return errors.New("bench: bad command")
	}
	key := string(l.Data[k : k+int(n)])
	val := bytes.Clone(l.Data[k+int(n):])
	f.mu.Lock()
	f.m[key] = val
	f.mu.Unlock()
	return nil
}

// applyBatch applies a bulk-load command (see forEachBatchPut).
func (f *kvFSM) applyBatch(b []byte) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return forEachBatchPut(b, func(k, v []byte) { f.m[string(k)] = bytes.Clone(v) })
}

// forEachBatchPut decodes a bulk-load command: uvarint count, then count
// times uvarint(len(key)) key uvarint(len(value)) value, and calls fn for
// each pair (the slices alias b). A single-put command never starts with 0:
// the bench has no empty keys.
func forEachBatchPut(b []byte, fn func(k, v []byte)) error {
	count, k := binary.Uvarint(b)
	if k <= 0 {
		return errors.New("bench: bad batch")
	}
	b = b[k:]
	for range min(count, uint64(len(b))) {
		var kv [2][]byte
		for j := range kv {
			n, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < n {
				return errors.New("bench: bad batch")
			}
			kv[j] = b[k : k+int(n)]
			b = b[k+int(n):]
		}
		fn(kv[0], kv[1])
	}
	return nil
}

func (f *kvFSM) get(key []byte) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[string(key)]
	return v, ok
}

type kvSnap struct{ m map[string][]byte }

func (f *kvFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(map[string][]byte, len(f.m))
	for k, v := range f.m {
		c[k] = v
	}
	return kvSnap{c}, nil
}

func (s kvSnap) Persist(sink raft.SnapshotSink) error {
	if err := gob.NewEncoder(sink).Encode(s.m); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (kvSnap) Release() {}

func (f *kvFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	m := map[string][]byte{}
	if err := gob.NewDecoder(rc).Decode(&m); err != nil {
		return err
	}
	f.mu.Lock()
	f.m = m
	f.mu.Unlock()
	return nil
}

type hcNode struct {
	id    raft.ServerID
	addr  string
	dir   string
	r     *raft.Raft
	fsm   hcFSM
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore
	tweak func(*raft.Config) // nil: the settings above
	radix bool               // immutable radix tree FSM instead of the map
}

// hcFSM is the state machine of a hashicorp node.
type hcFSM interface {
	raft.FSM
	get(key []byte) ([]byte, bool)
}

// hashicorpSys is a three-node hashicorp/raft cluster with raft-boltdb/v2
// and the TCP transport on loopback.
type hashicorpSys struct {
	nodes [3]*hcNode
	// cached is the last leader index seen, or -1 (see yggrSys.cached).
	cached leaderCache
}

// fast returns the cached leader, resolving it if unknown.
func (s *hashicorpSys) fast(ctx context.Context) (*hcNode, error) {
	i, err := s.cached.index(ctx, func(i int) bool { return s.nodes[i] != nil && s.nodes[i].r != nil }, s.leader)
	if err != nil {
		return nil, err
	}
	return s.nodes[i], nil
}

func (n *hcNode) start() error {
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return err
	}
	store, err := raftboltdb.NewBoltStore(filepath.Join(n.dir, "raft.db"))
	if err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStore(n.dir, 2, io.Discard)
	if err != nil {
		store.Close()
		return err
	}
	trans, err := raft.NewTCPTransport(n.addr, nil, 3, 10*time.Second, io.Discard)
	if err != nil {
		store.Close()
		return err
	}
	n.addr = string(trans.LocalAddr())
	cfg := raft.DefaultConfig()
	cfg.LocalID = n.id
	cfg.HeartbeatTimeout = hcHeartbeat
	cfg.ElectionTimeout = hcElection
	cfg.LeaderLeaseTimeout = hcLease
	cfg.LogOutput = io.Discard
	cfg.LogLevel = "ERROR"
	if n.tweak != nil {
		n.tweak(cfg)
	}
	if n.radix {
		n.fsm = newRadixFSM()
	} else {
		n.fsm = &kvFSM{m: map[string][]byte{}}
	}
	r, err := raft.NewRaft(cfg, n.fsm, store, store, snaps, trans)
	if err != nil {
		trans.Close()
		store.Close()
		return err
	}
	n.r, n.trans, n.store = r, trans, store
	return nil
}

func (n *hcNode) stop() error {
	err := n.r.Shutdown().Error()
	n.r = nil
	return errors.Join(err, n.trans.Close(), n.store.Close())
}

// startHashicorp starts the cluster; tweak (if not nil) adjusts each node's
// raft.Config, radix selects the immutable radix tree FSM.
func startHashicorp(ctx context.Context, root string, tweak func(*raft.Config), radix bool) (*hashicorpSys, error) {
	s := &hashicorpSys{}
	s.cached.reset()
	var conf raft.Configuration
	for i := range 3 {
		n := &hcNode{id: raft.ServerID(fmt.Sprintf("h%d", i+1)), addr: "127.0.0.1:0", dir: filepath.Join(root, fmt.Sprintf("h%d", i+1)),
			tweak: tweak, radix: radix}
		if err := n.start(); err != nil {
			s.Close()
			return nil, err
		}
		s.nodes[i] = n
		conf.Servers = append(conf.Servers, raft.Server{ID: n.id, Address: raft.ServerAddress(n.addr)})
	}
	if err := s.nodes[0].r.BootstrapCluster(conf).Error(); err != nil {
		s.Close()
		return nil, err
	}
	if _, err := s.leader(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *hashicorpSys) leader(ctx context.Context) (int, error) {
	return findLeader(ctx, "hashicorp", func(i int) bool {
		n := s.nodes[i]
		return n != nil && n.r != nil && n.r.State() == raft.Leader
	})
}

func encodeCmd(key, value []byte) []byte {
	b := binary.AppendUvarint(make([]byte, 0, len(key)+len(value)+2), uint64(len(key)))
	return append(append(b, key...), value...)
}

func (s *hashicorpSys) Put(ctx context.Context, key, value []byte) error {
	n, err := s.fast(ctx)
	if err != nil {
		return err
	}
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	f := n.r.Apply(encodeCmd(key, value), timeout)
	if err := f.Error(); err != nil {
		return s.cached.forget(err)
	}
	if e, ok := f.Response().(error); ok {
		return e
	}
	return nil
}

func (s *hashicorpSys) Read(ctx context.Context, mode string, key []byte) error {
	if mode != "linearizable" {
		return errUnsupported
	}
	n, err := s.fast(ctx)
	if err != nil {
		return err
	}
	if err := n.r.VerifyLeader().Error(); err != nil {
		return s.cached.forget(err)
	}
	if _, ok := n.fsm.get(key); !ok {
		return errors.New("bench: hashicorp: key not found")
	}
	return nil
}

func (s *hashicorpSys) StopFollower(ctx context.Context) (func(context.Context) (time.Duration, time.Duration, error), error) {
	l, err := s.leader(ctx)
	if err != nil {
		return nil, err
	}
	n := s.nodes[(l+1)%3]
	s.cached.reset()
	if err := n.stop(); err != nil {
		return nil, err
	}
	return func(ctx context.Context) (total, open time.Duration, err error) {
		l, err := s.leader(ctx)
		if err != nil {
			return 0, 0, err
		}
		target := s.nodes[l].r.LastIndex()
		t0 := time.Now()
		if err := n.start(); err != nil {
			return 0, 0, err
		}
		open = time.Since(t0)
		d, err := waitApplied(ctx, "hashicorp", t0, target, n.r.AppliedIndex)
		return d, open, err
	}, nil
}

func (s *hashicorpSys) Failover(ctx context.Context) (time.Duration, error) {
	l, err := s.leader(ctx)
	if err != nil {
		return 0, err
	}
	s.cached.reset()
	t0 := time.Now()
	if err := s.nodes[l].stop(); err != nil {
		return 0, err
	}
	s.nodes[l] = nil
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for i := int64(0); ctx.Err() == nil; i++ {
		for _, n := range s.nodes {
			if n == nil || n.r.State() != raft.Leader {
				continue
			}
			if last = n.r.Apply(encodeCmd(key16(3e12+i), []byte("failover")), 250*time.Millisecond).Error(); last == nil {
				return time.Since(t0), nil
			}
		}
		time.Sleep(time.Millisecond) // poll, bounded by ctx
	}
	return time.Since(t0), fmt.Errorf("bench: hashicorp: no write within 60s after failover: %v", last)
}

func (s *hashicorpSys) Close() error {
	var errs []error
	for i, n := range s.nodes {
		if n != nil && n.r != nil {
			errs = append(errs, n.stop())
		}
		s.nodes[i] = nil
	}
	return errors.Join(errs...)
}

// Load writes key16(base+i) = val for i in [0, n) as batch commands of 128
// puts from 16 workers (the same batching as yggr's load).
func (s *hashicorpSys) Load(ctx context.Context, base, n int64, val []byte) error {
	const batch = 128
	err := bulkLoad(ctx, (n+batch-1)/batch, func(ctx context.Context, b int64) error {
		nd, err := s.fast(ctx)
		if err != nil {
			return err
		}
		lo, hi := (b-1)*batch, min(b*batch, n)
		cmd := binary.AppendUvarint([]byte{0}, uint64(hi-lo))
		for i := lo; i < hi; i++ {
			k := key16(base + i)
			cmd = append(binary.AppendUvarint(cmd, uint64(len(k))), k...)
			cmd = append(binary.AppendUvarint(cmd, uint64(len(val))), val...)
		}
		f := nd.r.Apply(cmd, 10*time.Second)
		if err := f.Error(); err != nil {
			return s.cached.forget(err)
		}
		if e, ok := f.Response().(error); ok {
			return e
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bench: hashicorp: load: %w", err)
	}
	return nil
}

// SnapshotAll calls raft.Snapshot (a user snapshot: FSM snapshot, then
// persisted to the FileSnapshotStore, then log compaction) on every running
// node at once and returns each node's duration, the leader's first.
func (s *hashicorpSys) SnapshotAll(ctx context.Context) ([]time.Duration, error) {
	l, err := s.leader(ctx)
	if err != nil {
		return nil, err
	}
	return snapshotEach(l, func(i int) error {
		n := s.nodes[i]
		if n == nil || n.r == nil {
			return errSkipNode
		}
		// Nothing new (a follower that applied nothing since the last
		// one) is no failure.
		if err := n.r.Snapshot().Error(); !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			return err
		}
		return nil
	})
}
