package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/yggrdb/yggr"
)

// yggrSys is a three-node yggr cluster on QUIC loopback, opened through the
// public API only: yggr.Open with WithInsecure and WithLeaseReads (lease
// reads keep the default timing: 50 ms ticks, 8-tick election timeout).
type yggrSys struct {
	dirs  [3]string
	peers []string
	ids   [3]string
	dbs   [3]*yggr.DB
	// extra options for every Open (the snapshot workload's cluster).
	opts []yggr.Option
	// cached is the last leader index seen, or -1; the load path uses it
	// so that the harness does not call Status on every operation.
	cached leaderCache
}

// fast returns the cached leader, resolving it if unknown.
func (s *yggrSys) fast(ctx context.Context) (*yggr.DB, error) {
	i, err := s.cached.index(ctx, func(i int) bool { return s.dbs[i] != nil }, s.leader)
	if err != nil {
		return nil, err
	}
	return s.dbs[i], nil
}

// freeUDPPorts reserves n loopback UDP ports (released before use, so a
// small race is possible).
func freeUDPPorts(n int) ([]string, error) {
	var out []string
	var conns []net.PacketConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
		out = append(out, c.LocalAddr().String())
	}
	return out, nil
}

func (s *yggrSys) open(i int) error {
	opts := append([]yggr.Option{yggr.WithID(s.ids[i]), yggr.WithInsecure(), yggr.WithLeaseReads()}, s.opts...)
	db, err := yggr.Open(s.dirs[i], s.peers, opts...)
	if err != nil {
		return err
	}
	s.dbs[i] = db
	return nil
}

func startYggr(ctx context.Context, root string, opts ...yggr.Option) (*yggrSys, error) {
	addrs, err := freeUDPPorts(3)
	if err != nil {
		return nil, err
	}
	s := &yggrSys{opts: opts}
	s.cached.reset()
	for i := range 3 {
		s.ids[i] = fmt.Sprintf("n%d", i+1)
		s.dirs[i] = filepath.Join(root, s.ids[i])
		s.peers = append(s.peers, s.ids[i]+"="+addrs[i])
	}
	for i := range 3 {
		if err := s.open(i); err != nil {
			s.Close()
			return nil, err
		}
	}
	if _, err := s.leader(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// leader returns the index of the current leader, waiting up to 10 s.
func (s *yggrSys) leader(ctx context.Context) (int, error) {
	return findLeader(ctx, "yggr", func(i int) bool {
		db := s.dbs[i]
		return db != nil && db.Status().Role == yggr.RoleLeader
	})
}

func (s *yggrSys) Put(ctx context.Context, key, value []byte) error {
	db, err := s.fast(ctx)
	if err != nil {
		return err
	}
	return s.cached.forget(db.Put(ctx, key, value))
}

func (s *yggrSys) Read(ctx context.Context, mode string, key []byte) error {
	db, err := s.fast(ctx)
	if err != nil {
		return err
	}
	var c yggr.Consistency
	switch mode {
	case "linearizable":
		c = yggr.Linearizable
	case "lease":
		c = yggr.Lease
	case "stale":
		c = yggr.Stale
	default:
		return errUnsupported
	}
	_, err = db.Get(ctx, key, yggr.WithConsistency(c))
	return s.cached.forget(err)
}

func (s *yggrSys) StopFollower(ctx context.Context) (func(context.Context) (time.Duration, time.Duration, error), error) {
	l, err := s.leader(ctx)
	if err != nil {
		return nil, err
	}
	f := (l + 1) % 3
	before := s.dbs[f].Status()
	if err := s.dbs[f].Close(); err != nil {
		return nil, err
	}
	s.dbs[f] = nil
	s.cached.reset()
	return func(ctx context.Context) (total, open time.Duration, err error) {
		l, err := s.leader(ctx)
		if err != nil {
			return 0, 0, err
		}
		target := s.dbs[l].Status().Commit
		t0 := time.Now()
		if err := s.open(f); err != nil {
			return 0, 0, err
		}
		open = time.Since(t0)
		opened := s.dbs[f].Status()
		d, err := waitApplied(ctx, "yggr", t0, target, func() uint64 { return s.dbs[f].Status().Applied })
		if err == nil {
			st := s.dbs[f].Status()
			slog.Info("bench: yggr catch-up", "stopped_applied", before.Applied, "stopped_snapshot", before.SnapshotIndex,
				"opened_applied", opened.Applied, "opened_snapshot", opened.SnapshotIndex, "target", target,
				"leader_snapshot", s.dbs[l].Status().SnapshotIndex, "caught_up_snapshot", st.SnapshotIndex, "open", open, "total", d)
		}
		return d, open, err
	}, nil
}

func (s *yggrSys) Failover(ctx context.Context) (time.Duration, error) {
	l, err := s.leader(ctx)
	if err != nil {
		return 0, err
	}
	other := s.dbs[(l+1)%3]
	t0 := time.Now()
	if err := s.dbs[l].Close(); err != nil {
		return 0, err
	}
	s.dbs[l] = nil
	s.cached.reset()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for i := int64(0); ctx.Err() == nil; i++ {
		pctx, pcancel := context.WithTimeout(ctx, 250*time.Millisecond)
		last = other.Put(pctx, key16(3e12+i), []byte("failover"))
		pcancel()
		if last == nil {
			return time.Since(t0), nil
		}
		time.Sleep(time.Millisecond) // back off, bounded by ctx
	}
	return time.Since(t0), fmt.Errorf("bench: yggr: no write within 60s after failover: %w", last)
}

func (s *yggrSys) Close() error {
	var errs []error
	for i, db := range s.dbs {
		if db != nil {
			errs = append(errs, db.Close())
			s.dbs[i] = nil
		}
	}
	return errors.Join(errs...)
}

// Load writes key16(base+i) = val for i in [0, n) as transactions of 128
// puts (yggr's default MaxTxnOps) from 16 workers.
func (s *yggrSys) Load(ctx context.Context, base, n int64, val []byte) error {
	const batch = 128
	err := bulkLoad(ctx, (n+batch-1)/batch, func(ctx context.Context, b int64) error {
		db, err := s.fast(ctx)
		if err != nil {
			return err
		}
		var t yggr.Txn
		for i := (b - 1) * batch; i < min(b*batch, n); i++ {
			t.Then = append(t.Then, yggr.Request{Op: yggr.OpPut, Key: key16(base + i), Value: val})
		}
		_, err = db.Txn(ctx, t)
		return s.cached.forget(err)
	})
	if err != nil {
		return fmt.Errorf("bench: yggr: load: %w", err)
	}
	return nil
}

// SnapshotAll calls Snapshot on every open node at once and returns each
// node's duration, the leader's first.
func (s *yggrSys) SnapshotAll(ctx context.Context) ([]time.Duration, error) {
	l, err := s.leader(ctx)
	if err != nil {
		return nil, err
	}
	return snapshotEach(l, func(i int) error {
		db := s.dbs[i]
		if db == nil {
			return errSkipNode
		}
		_, err := db.Snapshot(ctx)
		return err
	})
}
