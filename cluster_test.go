package yggr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/netquic"

	"github.com/yggrdb/yggr/internal/chaosnet"
	"github.com/yggrdb/yggr/internal/node"
	"github.com/yggrdb/yggr/internal/testutil"
)

// testCluster is n DBs in one process over real QUIC transports on
// loopback (insecure mode), each in its own temp dir.
type testCluster struct {
	t     testing.TB
	ids   []string
	dirs  map[string]string
	addrs map[string]string
	nets  map[string]node.Network
	dbs   map[string]*DB
	opts  []Option
	// chaos, when set, replaces QUIC with the in-process chaos twin.
	chaos *chaosnet.Net
	// joined marks nodes that were re-added through membership changes
	// (they start with WithJoin).
	joined map[string]bool
}

// newChaosCluster is n DBs over the chaos twin of the transport (real
// codec, seeded faults).
func newChaosCluster(t testing.TB, n int, seed uint64, opts ...Option) *testCluster {
	t.Helper()
	c := &testCluster{t: t, dirs: map[string]string{}, addrs: map[string]string{}, nets: map[string]node.Network{},
		dbs: map[string]*DB{}, opts: opts, chaos: chaosnet.New(seed), joined: map[string]bool{}}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		c.ids = append(c.ids, id)
		c.dirs[id] = t.TempDir()
		c.addrs[id] = fmt.Sprintf("127.0.0.1:%d", 7070+i)
		c.nets[id] = c.chaos.Endpoint(engine.NodeID(id))
	}
	for _, id := range c.ids {
		c.start(id)
	}
	t.Cleanup(c.close)
	return c
}

func newQUICCluster(t *testing.T, n int, opts ...Option) *testCluster {
	return newQUICClusterTB(t, n, opts...)
}

func newQUICClusterTB(t testing.TB, n int, opts ...Option) *testCluster {
	t.Helper()
	c := &testCluster{t: t, dirs: map[string]string{}, addrs: map[string]string{}, nets: map[string]node.Network{}, dbs: map[string]*DB{}, opts: opts}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		c.ids = append(c.ids, id)
		c.dirs[id] = t.TempDir()
		tr, err := netquic.Listen(netquic.Config{ID: engine.NodeID(id), ListenAddr: "127.0.0.1:0", Insecure: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		c.nets[id] = tr
		c.addrs[id] = tr.Addr()
	}
	for _, id := range c.ids {
		c.start(id)
	}
	t.Cleanup(c.close)
	return c
}

func (c *testCluster) peers() []string {
	var ps []string
	for _, id := range c.ids {
		ps = append(ps, id+"="+c.addrs[id])
	}
	return ps
}

func (c *testCluster) start(id string) {
	c.t.Helper()
	opts := append([]Option{WithID(id), withNetwork(c.nets[id]), WithTiming(20*time.Millisecond, 10)}, c.opts...)
	peers := c.peers()
	if c.joined[id] {
		opts = append(opts, WithJoin())
		peers = []string{id + "=" + c.addrs[id]}
	}
	db, err := Open(c.dirs[id], peers, opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.dbs[id] = db
}

func (c *testCluster) close() {
	var wg sync.WaitGroup
	for id, db := range c.dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db.Close()
		}()
		delete(c.dbs, id)
	}
	wg.Wait()
	for _, tr := range c.nets {
		tr.Close()
	}
	if c.chaos != nil {
		c.chaos.Close()
	}
}

// leader waits until all running nodes agree on a leader and returns it.
func (c *testCluster) leader(ctx context.Context) string {
	c.t.Helper()
	return c.leaderAmong(ctx, "")
}

// leaderAmong is leader, ignoring the node except (a node that is joining
// and cannot know the leader yet).
func (c *testCluster) leaderAmong(ctx context.Context, except string) string {
	c.t.Helper()
	for i := 0; i < 1000; i++ {
		var l string
		agree := true
		for id, db := range c.dbs {
			if id == except {
				continue
			}
			s := db.Status()
			if s.Leader == "" || (l != "" && s.Leader != l) {
				agree = false
				break
			}
			l = s.Leader
		}
		if agree && l != "" {
			return l
		}
		select {
		case <-ctx.Done():
			var states []string
			for _, id := range c.ids {
				if db := c.dbs[id]; db != nil {
					s := db.Status()
					states = append(states, fmt.Sprintf("%s: %s term=%d leader=%s commit=%d applied=%d members=%v", id, s.Role, s.Term, s.Leader, s.Commit, s.Applied, s.Members))
				}
			}
			c.t.Fatalf("no leader agreed: %v\n%s", ctx.Err(), strings.Join(states, "\n"))
		case <-time.After(10 * time.Millisecond):
		}
	}
	c.t.Fatal("no leader agreed")
	return ""
}

func TestThreeNodesOverQUIC(t *testing.T) {
	ctx := testCtx(t)
	c := newQUICCluster(t, 3)
	leader := c.leader(ctx)
	// Write through every node: followers forward to the leader.
	for i, id := range c.ids {
		if err := c.dbs[id].Put(ctx, []byte(fmt.Sprintf("k%d", i)), []byte(id)); err != nil {
			t.Fatalf("Put via %s (leader %s): %v", id, leader, err)
		}
	}
	// Linearizable reads on every node see every write.
	for _, id := range c.ids {
		for i, w := range c.ids {
			got, err := c.dbs[id].Get(ctx, []byte(fmt.Sprintf("k%d", i)))
			if err != nil || string(got) != w {
				t.Fatalf("Get k%d via %s = %q, %v; want %q", i, id, got, err, w)
			}
		}
	}
}

func TestRestoreBackupRejectsTruncated(t *testing.T) {
	ctx := testCtx(t)
	db, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		db.Put(ctx, []byte(fmt.Sprint(i)), []byte("value"))
	}
	var buf bytes.Buffer
	if _, err := db.Backup(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	db.Close()
	dir := t.TempDir() + "/restored"
	if _, err := RestoreBackup(dir, "n1", bytes.NewReader(buf.Bytes()[:buf.Len()/2])); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated backup: err = %v, want ErrCorrupt", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("failed restore left %s behind (%v)", dir, err)
	}
	if _, err := RestoreBackup(dir, "n1", bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
}

func TestSingleNodeTransferIsRefused(t *testing.T) {
	ctx := testCtx(t)
	db, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.TransferLeadership(ctx, ""); !errors.Is(err, ErrMembership) {
		t.Fatalf("transfer with no other voter: err = %v, want ErrMembership", err)
	}
	if err := db.TransferLeadership(ctx, "n9"); !errors.Is(err, ErrMembership) {
		t.Fatalf("transfer to a non-member: err = %v, want ErrMembership", err)
	}
}

// TestCloseEndsWaitingReads: linearizable reads waiting for a round that
// cannot be confirmed (both followers gone) end with ErrClosed when the
// leader is closed, even with a context that never ends (the wait then
// watches only its batch, which Close fails).
func TestCloseEndsWaitingReads(t *testing.T) {
	ctx := testCtx(t)
	c := newQUICCluster(t, 3)
	leader := c.leader(ctx)
	db := c.dbs[leader]
	if err := db.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	for _, id := range c.ids {
		if id != leader {
			c.crash(id)
		}
	}
	started := db.Metrics().ReadsStarted
	const readers = 8
	errs := make(chan error, readers)
	for range readers {
		go func() {
			_, err := db.Get(context.Background(), []byte("k"))
			errs <- err
		}()
	}
	testutil.WaitFor(t, "a read round in the engine", func() bool { return db.Metrics().ReadsStarted != started })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for range readers {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("read on a closed leader: %v, want ErrClosed", err)
			}
		case <-ctx.Done():
			t.Fatal("a read still waits after Close")
		}
	}
}
