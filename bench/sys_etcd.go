package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"
)

// etcdSys is a three-node go.etcd.io/raft/v3 cluster built by the harness
// (etcd_node.go): RawNode loops, file WALs, TCP on loopback, map FSMs.
// Writes and linearizable reads go to the leader; etcd raft has no lease
// or stale read API in this harness, so those rows are yggr only.
type etcdSys struct {
	nodes [3]*etcdNode
	addrs [3]string
	dirs  [3]string
	// cached is the last leader index seen, or -1 (see yggrSys.cached).
	cached leaderCache
}

func (s *etcdSys) peersOf(i int) map[uint64]string {
	m := map[uint64]string{}
	for j, a := range s.addrs {
		if j != i {
			m[uint64(j+1)] = a
		}
	}
	return m
}

func startEtcd(ctx context.Context, root string) (*etcdSys, error) {
	s := &etcdSys{}
	s.cached.reset()
	var lns [3]net.Listener
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return nil, err
		}
		lns[i] = ln
		s.addrs[i] = ln.Addr().String()
		s.dirs[i] = filepath.Join(root, fmt.Sprintf("e%d", i+1))
	}
	for i := range 3 {
		n, err := startEtcdNode(uint64(i+1), s.dirs[i], lns[i], s.addrs[i], s.peersOf(i))
		if err != nil {
			for _, l := range lns[i:] {
				l.Close()
			}
			s.Close()
			return nil, err
		}
		s.nodes[i] = n
	}
	if _, err := s.leader(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// leader returns the index of the current leader, waiting up to 10 s.
func (s *etcdSys) leader(ctx context.Context) (int, error) {
	return findLeader(ctx, "etcd", func(i int) bool {
		n := s.nodes[i]
		return n != nil && n.isLeader()
	})
}

// fast returns the cached leader, resolving it if unknown.
func (s *etcdSys) fast(ctx context.Context) (*etcdNode, error) {
	i, err := s.cached.index(ctx, func(i int) bool { return s.nodes[i] != nil }, s.leader)
	if err != nil {
		return nil, err
	}
	return s.nodes[i], nil
}

func (s *etcdSys) Put(ctx context.Context, key, value []byte) error {
	n, err := s.fast(ctx)
	if err != nil {
		return err
	}
	return s.cached.forget(n.put(ctx, key, value))
}

func (s *etcdSys) Read(ctx context.Context, mode string, key []byte) error {
	if mode != "linearizable" {
		return errUnsupported
	}
	n, err := s.fast(ctx)
	if err != nil {
		return err
	}
	_, ok, err := n.get(ctx, key)
	if err != nil {
		return s.cached.forget(err)
	}
	if !ok {
		return errors.New("bench: etcd: key not found")
	}
	return nil
}

func (s *etcdSys) StopFollower(ctx context.Context) (func(context.Context) (time.Duration, time.Duration, error), error) {
	l, err := s.leader(ctx)
	if err != nil {
		return nil, err
	}
	f := (l + 1) % 3
	n := s.nodes[f]
	s.nodes[f] = nil
	s.cached.reset()
	if err := n.stop(); err != nil {
		return nil, err
	}
	return func(ctx context.Context) (total, open time.Duration, err error) {
		l, err := s.leader(ctx)
		if err != nil {
			return 0, 0, err
		}
		target := s.nodes[l].commit.Load()
		t0 := time.Now()
		n, err := startEtcdNode(uint64(f+1), s.dirs[f], nil, s.addrs[f], s.peersOf(f))
		if err != nil {
			return 0, 0, err
		}
		s.nodes[f] = n
		open = time.Since(t0)
		d, err := waitApplied(ctx, "etcd", t0, target, n.applied.Load)
		return d, open, err
	}, nil
}

func (s *etcdSys) Failover(ctx context.Context) (time.Duration, error) {
	l, err := s.leader(ctx)
	if err != nil {
		return 0, err
	}
	s.cached.reset()
	t0 := time.Now()
	n := s.nodes[l]
	s.nodes[l] = nil
	if err := n.stop(); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for i := int64(0); ctx.Err() == nil; i++ {
		for _, n := range s.nodes {
			if n == nil || !n.isLeader() {
				continue
			}
			pctx, pcancel := context.WithTimeout(ctx, 250*time.Millisecond)
			last = n.put(pctx, key16(3e12+i), []byte("failover"))
			pcancel()
			if last == nil {
				return time.Since(t0), nil
			}
		}
		time.Sleep(time.Millisecond) // poll, bounded by ctx
	}
	return time.Since(t0), fmt.Errorf("bench: etcd: no write within 60s after failover: %v", last)
}

func (s *etcdSys) Close() error {
	var errs []error
	for i, n := range s.nodes {
		if n != nil {
			errs = append(errs, n.stop())
		}
		s.nodes[i] = nil
	}
	return errors.Join(errs...)
}
