package concurrency

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/internal/testutil"
)

// Cluster timing in tests: 20ms ticks, a minimum election timeout of 10
// ticks (200–400ms).
const (
	testTick            = 20 * time.Millisecond
	testElectionTicks   = 10
	testElectionTimeout = 2 * testElectionTicks * testTick // the maximum
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openSingle opens a single-node database, closed at the end of the test.
func openSingle(t *testing.T) *yggr.DB {
	t.Helper()
	db, err := yggr.Open(t.TempDir(), nil, yggr.WithUnsafeNoSync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// cluster is a three-node cluster in this process, on loopback QUIC.
type cluster struct {
	t     *testing.T
	peers []string
	dirs  []string
	mu    sync.Mutex
	dbs   []*yggr.DB // nil while a node is down
	up    []chan struct{}
}

// freeAddr returns a loopback UDP address for a node (testutil.FreeUDPAddr).
func freeAddr(t *testing.T) string { return testutil.FreeUDPAddr(t) }

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{t: t, dbs: make([]*yggr.DB, n), up: make([]chan struct{}, n)}
	root := t.TempDir()
	for i := range n {
		c.peers = append(c.peers, nodeID(i)+"="+freeAddr(t))
		c.dirs = append(c.dirs, filepath.Join(root, nodeID(i)))
		c.up[i] = make(chan struct{})
	}
	for i := range n {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range n {
			c.stop(i)
		}
	})
	ctx := testCtx(t)
	for i := range n {
		if _, err := c.db(i).WaitLeader(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func nodeID(i int) string { return "n" + string(rune('1'+i)) }

func (c *cluster) start(i int) {
	c.t.Helper()
	db, err := yggr.Open(c.dirs[i], c.peers, yggr.WithID(nodeID(i)), yggr.WithInsecure(),
		yggr.WithTiming(testTick, testElectionTicks), yggr.WithUnsafeNoSync())
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.dbs[i] = db
	close(c.up[i])
	c.mu.Unlock()
}

// stop closes node i's database (a crash of the node and of every client
// on it).
func (c *cluster) stop(i int) {
	c.mu.Lock()
	db := c.dbs[i]
	c.dbs[i] = nil
	if db != nil {
		c.up[i] = make(chan struct{})
	}
	c.mu.Unlock()
	if db != nil {
		db.Close()
	}
}

// db returns node i's database, nil while it is down.
func (c *cluster) db(i int) *yggr.DB {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dbs[i]
}

// await returns node i's database, waiting while it is down.
func (c *cluster) await(ctx context.Context, i int) (*yggr.DB, error) {
	for {
		c.mu.Lock()
		db, up := c.dbs[i], c.up[i]
		c.mu.Unlock()
		if db != nil {
			return db, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// keys returns the keys under prefix (a linearizable read).
func keys(t *testing.T, db *yggr.DB, prefix string) []string {
	t.Helper()
	items, _, err := db.List(context.Background(), []byte(prefix), yggr.PrefixEnd([]byte(prefix)), 0)
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, it := range items {
		ks = append(ks, string(it.Key))
	}
	return ks
}

// newTestSession opens a session, closed at the end of the test.
func newTestSession(t *testing.T, db *yggr.DB, opts ...SessionOption) *Session {
	t.Helper()
	s, err := NewSession(testCtx(t), db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pauser stops a session's keepalives, as a paused process would: the
// keepalive goroutine blocks (and so does not notice its deadline) until
// resume, then lets the session find out it is lost.
type pauser struct {
	mu     sync.Mutex
	paused chan struct{} // non-nil while paused; closed to resume
}

func (p *pauser) hooks() *testHooks {
	return &testHooks{beforeKeepAlive: func(ctx context.Context) bool {
		p.mu.Lock()
		ch := p.paused
		p.mu.Unlock()
		if ch == nil {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return false
	}}
}

func (p *pauser) pause() {
	p.mu.Lock()
	p.paused = make(chan struct{})
	p.mu.Unlock()
}

func (p *pauser) resume() {
	p.mu.Lock()
	if p.paused != nil {
		close(p.paused)
		p.paused = nil
	}
	p.mu.Unlock()
}
