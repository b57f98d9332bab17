package yggr

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/testutil"
)

// TestSingleNodeWithoutListenerCannotAddMembers: a database opened with no
// peers has no peer listener; adding a member would leave a learner that
// never catches up or a voter that breaks the majority, so it is refused.
func TestSingleNodeWithoutListenerCannotAddMembers(t *testing.T) {
	ctx := testCtx(t)
	db, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, add := range []func() error{
		func() error { return db.AddLearner(ctx, "n2", freeUDPAddr(t)) },
		func() error { return db.AddVoter(ctx, "n2", freeUDPAddr(t)) },
	} {
		if err := add(); !errors.Is(err, ErrMembership) || !strings.Contains(err.Error(), "no peer listener") {
			t.Fatalf("adding a member to a node without a listener: %v, want ErrMembership (no peer listener)", err)
		}
	}
	if st := db.Status(); len(st.Members) != 1 {
		t.Fatalf("members after refused adds: %+v", st.Members)
	}
}

// TestSingleNodeGrowsIntoCluster: a node opened with only its own address
// listens, and grows into a three-node cluster through learners that are
// promoted once caught up; its data reaches the new members.
func TestSingleNodeGrowsIntoCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	ctx := testCtx(t)
	timing := WithTiming(20*time.Millisecond, 10)
	addrs := map[string]string{"n1": freeUDPAddr(t), "n2": freeUDPAddr(t), "n3": freeUDPAddr(t)}
	n1, err := Open(t.TempDir(), []string{"n1=" + addrs["n1"]}, WithID("n1"), WithInsecure(), timing)
	if err != nil {
		t.Fatal(err)
	}
	defer n1.Close()
	if err := n1.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	dbs := map[string]*DB{"n1": n1}
	dirs := map[string]string{}
	for _, id := range []string{"n2", "n3"} {
		dirs[id] = t.TempDir()
		db, err := Open(dirs[id], []string{id + "=" + addrs[id]}, WithID(id), WithInsecure(), WithJoin(), timing)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[id] = db
		if err := n1.AddLearner(ctx, id, addrs[id]); err != nil {
			t.Fatalf("add learner %s: %v", id, err)
		}
		// Promote once the learner has caught up (the leader refuses
		// before), waiting on the leader's view of its progress.
		caughtUp := func() bool {
			st := n1.Status()
			for _, f := range st.Followers {
				if f.ID == id && f.Match >= st.Commit {
					return true
				}
			}
			return false
		}
		testutil.WaitFor(t, "learner "+id+" to catch up", caughtUp)
		if err := n1.Promote(ctx, id); err != nil {
			t.Fatalf("promote %s: %v", id, err)
		}
	}
	if got := len(n1.Status().Members); got != 3 {
		t.Fatalf("members: %d, want 3", got)
	}
	for id, db := range dbs {
		v, err := db.Get(ctx, []byte("k"))
		if err != nil || string(v) != "v" {
			t.Fatalf("%s: get k = %q, %v; want v", id, v, err)
		}
	}
	// The joined nodes learn the address of n1 too, which no membership
	// change carried (n1 founded the cluster): they could not dial it
	// otherwise, only answer on connections n1 opened.
	knowsAll := func(db *DB) bool {
		for _, m := range db.Status().Members {
			if m.Addr != addrs[m.ID] {
				return false
			}
		}
		return true
	}
	for id, db := range dbs {
		testutil.WaitFor(t, id+" to know every member's address", func() bool { return knowsAll(db) })
	}
	// They keep them across a restart, from their data alone.
	if err := dbs["n2"].Close(); err != nil {
		t.Fatal(err)
	}
	n2, err := Open(dirs["n2"], nil, WithID("n2"), WithInsecure(), timing)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if !knowsAll(n2) {
		t.Errorf("n2 reopened: members %+v, want the addresses %v", n2.Status().Members, addrs)
	}
}

// TestListeningNodeNeedsItsPeersOnReopen: a node created with its own
// address listens for peers (and may have grown into a cluster); reopened
// with no peers it would be a member nobody reaches, so Open refuses. A
// database created without peers (or restored) reopens without them.
func TestListeningNodeNeedsItsPeersOnReopen(t *testing.T) {
	dir := t.TempDir()
	self := []string{"n1=" + freeUDPAddr(t)}
	db, err := Open(dir, self, WithID("n1"), WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(dir, nil, WithID("n1")); !errors.Is(err, ErrConfig) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("reopen without peers: %v, want ErrConfig", err)
	}
	db, err = Open(dir, self, WithID("n1"), WithInsecure())
	if err != nil {
		t.Fatalf("reopen with its address: %v", err)
	}
	db.Close()

	plain := t.TempDir()
	for range 2 {
		db, err := Open(plain, nil)
		if err != nil {
			t.Fatalf("a database created without peers, reopened without them: %v", err)
		}
		db.Close()
	}
}
