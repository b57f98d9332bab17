package yggr

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"

	"github.com/yggrdb/yggr/internal/testutil"
)

// freeUDPAddr returns a loopback UDP address for a node (testutil.FreeUDPAddr).
func freeUDPAddr(t *testing.T) string { return testutil.FreeUDPAddr(t) }

func TestOpenRejectsBadConfiguration(t *testing.T) {
	a, b := freeUDPAddr(t), freeUDPAddr(t)
	peers := []string{"n1=" + a, "n2=" + b}
	cases := []struct {
		name  string
		peers []string
		opts  []Option
		want  string
	}{
		{"malformed peer", []string{"n1"}, []Option{WithID("n1"), WithInsecure()}, "want id=host:port"},
		{"bad address", []string{"n1=nowhere"}, []Option{WithID("n1"), WithInsecure()}, "missing port"},
		{"duplicate peer", []string{"n1=" + a, "n1=" + b}, []Option{WithID("n1"), WithInsecure()}, "listed twice"},
		{"no id", peers, []Option{WithInsecure()}, "needs WithID"},
		{"id not a peer", peers, []Option{WithID("n9"), WithInsecure()}, "not among the peers"},
		{"no security", peers, []Option{WithID("n1")}, "WithClusterSecret, WithTLS or"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, err := Open(t.TempDir(), c.peers, c.opts...)
			if err == nil {
				db.Close()
				t.Fatalf("Open succeeded, want an error containing %q", c.want)
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrConfig containing %q", err, c.want)
			}
		})
	}
	if _, err := Open("", nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("empty dir: err = %v", err)
	}
}

func TestReopenWithAnotherIdentityFails(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(dir, nil, WithID("n2")); !errors.Is(err, ErrConfig) {
		t.Fatalf("reopen as n2: err = %v, want ErrConfig", err)
	}
}

func TestLimitsLeaseAndIndexes(t *testing.T) {
	ctx := testCtx(t)
	db, err := Open(t.TempDir(), nil, WithLeaseReads(), WithLimits(Limits{MaxKeyBytes: 8, MaxValueBytes: 16}), WithSnapshotEntries(5))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.ID() != "n1" {
		t.Errorf("ID = %q, want n1", db.ID())
	}
	if l, err := db.WaitLeader(ctx); err != nil || l != "n1" {
		t.Fatalf("WaitLeader = %q, %v", l, err)
	}
	if err := db.Put(ctx, []byte("key-too-long"), []byte("v")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long key: err = %v, want ErrTooLarge", err)
	}
	if err := db.Put(ctx, []byte("k"), []byte(strings.Repeat("x", 17))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long value: err = %v, want ErrTooLarge", err)
	}
	if err := db.Put(ctx, nil, []byte("v")); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty key: err = %v, want ErrInvalid", err)
	}
	idx, err := db.PutIndex(ctx, []byte("k"), []byte("v"))
	if err != nil || idx == 0 {
		t.Fatalf("PutIndex = %d, %v", idx, err)
	}
	if v, err := db.Get(ctx, []byte("k"), WithConsistency(Lease)); err != nil || string(v) != "v" {
		t.Fatalf("lease read = %q, %v", v, err)
	}
	if _, err := db.Get(ctx, []byte("k"), WithConsistency(Consistency(9))); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown consistency: err = %v", err)
	}
	if _, err := ParseConsistency("eventual"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseConsistency(eventual): err = %v", err)
	}
	if s := Consistency(9).String(); s != "Consistency(9)" {
		t.Errorf("String = %q", s)
	}
	didx, deleted, err := db.DeleteIndex(ctx, []byte("k"))
	if err != nil || !deleted || didx <= idx {
		t.Fatalf("DeleteIndex = %d, %v, %v", didx, deleted, err)
	}
	if _, deleted, _ := db.DeleteIndex(ctx, []byte("k")); deleted {
		t.Error("deleting a missing key reported deleted")
	}
	// Enough writes for automatic snapshots (every 5 entries).
	for i := 0; i < 20; i++ {
		db.Put(ctx, []byte{'a' + byte(i)}, []byte("v"))
	}
	// Snapshots are taken off the driver, so the first one lands a little
	// after the write that made it due.
	testutil.WaitFor(t, "an automatic snapshot after 20 writes with WithSnapshotEntries(5)", func() bool {
		return db.Status().SnapshotIndex != 0
	})
	// A cancelled context ends Scan with an error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for _, err := range db.Scan(cctx, nil, nil) {
		if err == nil {
			t.Error("Scan on a cancelled context yielded an item")
		}
		break
	}
	if PrefixEnd([]byte{0xff, 0xff}) != nil {
		t.Error("PrefixEnd(ff ff) should be nil")
	}
}

// TestMembershipChanges grows a cluster with a learner that is promoted,
// adds a voter directly, and removes members, over the chaos twin.
func TestMembershipChanges(t *testing.T) {
	ctx := testCtx(t)
	c := newChaosCluster(t, 3, 11)
	leader := c.dbs[c.leader(ctx)]
	if err := leader.AddLearner(ctx, "n4", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AddLearner without address: err = %v", err)
	}
	if err := leader.AddVoter(ctx, "bad id", "127.0.0.1:1"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AddVoter with a bad id: err = %v", err)
	}
	for _, id := range []string{"n4", "n5"} {
		c.ids = append(c.ids, id)
		c.dirs[id] = t.TempDir()
		c.addrs[id] = "127.0.0.1:70" + id[1:]
		c.nets[id] = c.chaos.Endpoint(engineID(id))
		c.joined[id] = true
		c.start(id)
	}
	if err := leader.Put(ctx, []byte("before"), []byte("join")); err != nil {
		t.Fatal(err)
	}
	if err := leader.AddLearner(ctx, "n4", c.addrs["n4"]); err != nil {
		t.Fatal(err)
	}
	if err := c.dbs["n4"].node.WaitApplied(ctx, leader.Status().Commit); err != nil {
		t.Fatal(err)
	}
	// Promotion is refused until the leader sees the learner caught up:
	// wait for that condition (bounded), then promote.
	caughtUp := func() bool {
		st := leader.Status()
		for _, f := range st.Followers {
			if f.ID == "n4" && f.Match >= st.Commit {
				return true
			}
		}
		return false
	}
	testutil.WaitFor(t, "learner n4 to catch up", caughtUp)
	if err := leader.Promote(ctx, "n4"); err != nil {
		t.Fatalf("Promote n4: %v", err)
	}
	if err := leader.Promote(ctx, "n4"); !errors.Is(err, ErrMembership) {
		t.Fatalf("promoting a voter: err = %v, want ErrMembership", err)
	}
	if err := leader.AddVoter(ctx, "n5", c.addrs["n5"]); err != nil {
		t.Fatal(err)
	}
	if err := leader.AddVoter(ctx, "n5", c.addrs["n5"]); !errors.Is(err, ErrMembership) {
		t.Fatalf("adding n5 twice: err = %v, want ErrMembership", err)
	}
	st := leader.Status()
	voters := 0
	for _, m := range st.Members {
		if m.Voter {
			voters++
		}
	}
	if voters != 5 {
		t.Fatalf("members after growing: %+v", st.Members)
	}
	// Writes and linearizable reads work through the new voters.
	if err := c.dbs["n5"].Put(ctx, []byte("after"), []byte("grow")); err != nil {
		t.Fatal(err)
	}
	if v, err := c.dbs["n4"].Get(ctx, []byte("before")); err != nil || string(v) != "join" {
		t.Fatalf("n4 reads before=%q, %v", v, err)
	}
	if err := leader.RemoveMember(ctx, "n5"); err != nil {
		t.Fatal(err)
	}
	if err := leader.RemoveMember(ctx, "n9"); !errors.Is(err, ErrMembership) {
		t.Fatalf("removing a non-member: err = %v", err)
	}
}

func engineID(id string) engine.NodeID { return engine.NodeID(id) }

// openSecured opens three real nodes on loopback with the given options per
// node and returns them once they agree on a leader.
func openSecured(t *testing.T, opts func(id string) []Option) map[string]*DB {
	t.Helper()
	ids := []string{"n1", "n2", "n3"}
	var peers []string
	for _, id := range ids {
		peers = append(peers, id+"="+freeUDPAddr(t))
	}
	dbs := map[string]*DB{}
	for _, id := range ids {
		db, err := Open(t.TempDir(), peers, append([]Option{WithID(id), WithTiming(20*time.Millisecond, 10)}, opts(id)...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[id] = db
	}
	return dbs
}

func TestClusterSecret(t *testing.T) {
	ctx := testCtx(t)
	dbs := openSecured(t, func(string) []Option { return []Option{WithClusterSecret("a shared secret")} })
	if err := dbs["n2"].Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := dbs["n3"].Get(ctx, []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
}

func TestExplicitCertificates(t *testing.T) {
	ctx := testCtx(t)
	caCert, caKey, err := NewClusterCA("test")
	if err != nil {
		t.Fatal(err)
	}
	dbs := openSecured(t, func(id string) []Option {
		cert, key, err := NewNodeCert(caCert, caKey, id, []string{"127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := PeerTLSConfig(caCert, cert, key)
		if err != nil {
			t.Fatal(err)
		}
		return []Option{WithTLS(cfg)}
	})
	if err := dbs["n1"].Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
}

// A node with the wrong secret is refused by its peers: it never learns a
// leader, while the other two form a cluster.
func TestWrongSecretIsRefused(t *testing.T) {
	ctx := testCtx(t)
	dbs := openSecured(t, func(id string) []Option {
		if id == "n3" {
			return []Option{WithClusterSecret("another secret")}
		}
		return []Option{WithClusterSecret("the right secret")}
	})
	if err := dbs["n1"].Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := dbs["n3"].Get(short, []byte("k")); err == nil {
		t.Fatal("the node with the wrong secret served a linearizable read")
	}
	if l := dbs["n3"].Status().Leader; l != "" {
		t.Fatalf("the node with the wrong secret knows leader %q", l)
	}
	// The refusals are counted on both sides (Metrics, and Prometheus's
	// yggr_peer_handshake_failures_total).
	for _, id := range []string{"n1", "n3"} {
		testutil.WaitFor(t, id+" to count a refused handshake", func() bool {
			return dbs[id].Metrics().PeerHandshakeFailures > 0
		})
	}
}

// TestBadNodeIDIsInvalid: the offline helpers refuse a malformed node ID
// as invalid input (the CLI maps it to a usage error).
func TestBadNodeIDIsInvalid(t *testing.T) {
	if _, err := RestoreBackup(t.TempDir(), "bad id", strings.NewReader("")); !errors.Is(err, ErrInvalid) {
		t.Errorf("RestoreBackup with a bad id: %v, want ErrInvalid", err)
	}
	if _, _, err := NewNodeCert(nil, nil, "bad id!", []string{"127.0.0.1"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewNodeCert with a bad id: %v, want ErrInvalid", err)
	}
}
