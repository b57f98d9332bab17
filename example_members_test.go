package yggr_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"github.com/yggrdb/yggr"
)

// loopbackAddr returns a free UDP address on loopback for a node's peer
// listener.
func loopbackAddr() string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// pair is a one-node cluster, n1, that can grow, and n2, a node started
// with WithJoin that waits for n1 to add it at addr2.
type pair struct {
	n1, n2 *yggr.DB
	addr2  string
	dirs   []string
}

func newPair(ctx context.Context) *pair {
	p := &pair{dirs: []string{tempDir(), tempDir()}, addr2: loopbackAddr()}
	secret := yggr.WithClusterSecret("an example cluster secret")
	var err error
	if p.n1, err = yggr.Open(p.dirs[0], []string{"n1=" + loopbackAddr()}, yggr.WithID("n1"), secret); err != nil {
		log.Fatal(err)
	}
	if _, err := p.n1.WaitLeader(ctx); err != nil {
		log.Fatal(err)
	}
	if p.n2, err = yggr.Open(p.dirs[1], []string{"n2=" + p.addr2}, yggr.WithID("n2"), yggr.WithJoin(), secret); err != nil {
		log.Fatal(err)
	}
	return p
}

func (p *pair) close() {
	p.n2.Close()
	p.n1.Close()
	for _, d := range p.dirs {
		os.RemoveAll(d)
	}
}

// addCaughtUpVoter adds n2 as a voter and waits until it holds n1's log.
func (p *pair) addCaughtUpVoter(ctx context.Context) {
	if err := p.n1.AddVoter(ctx, "n2", p.addr2); err != nil {
		log.Fatal(err)
	}
	caughtUp(ctx, p.n1, "n2")
}

// members prints the members as db sees them: id and voter or learner.
func members(db *yggr.DB) {
	for _, m := range db.Status().Members {
		kind := "learner"
		if m.Voter {
			kind = "voter"
		}
		fmt.Println(m.ID, kind)
	}
}

// caughtUp waits until the leader sees the follower id holding the
// leader's whole log: the leader judges whether a learner has caught up by
// what the learner acknowledged, not by what it applied.
func caughtUp(ctx context.Context, leader *yggr.DB, id string) {
	for {
		st := leader.Status()
		for _, f := range st.Followers {
			if f.ID == id && f.Match >= st.LastIndex {
				return
			}
		}
		select {
		case <-ctx.Done():
			log.Fatal(ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func ExampleDB_AddLearner() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := newPair(ctx)
	defer p.close()

	// n2 receives the log but does not vote until promoted.
	if err := p.n1.AddLearner(ctx, "n2", p.addr2); err != nil {
		log.Fatal(err)
	}
	members(p.n1)
	// Output:
	// n1 voter
	// n2 learner
}

func ExampleDB_Promote() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := newPair(ctx)
	defer p.close()

	if err := p.n1.AddLearner(ctx, "n2", p.addr2); err != nil {
		log.Fatal(err)
	}
	// Promote once the learner has caught up with the leader.
	caughtUp(ctx, p.n1, "n2")
	if err := p.n1.Promote(ctx, "n2"); err != nil {
		log.Fatal(err)
	}
	members(p.n1)
	// Output:
	// n1 voter
	// n2 voter
}

func ExampleDB_AddVoter() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := newPair(ctx)
	defer p.close()

	// A voter counts toward the majority at once: n1 alone can no longer
	// commit until n2 answers.
	if err := p.n1.AddVoter(ctx, "n2", p.addr2); err != nil {
		log.Fatal(err)
	}
	if err := p.n1.Put(ctx, []byte("k"), []byte("v")); err != nil {
		log.Fatal(err)
	}
	members(p.n1)
	// Output:
	// n1 voter
	// n2 voter
}

func ExampleDB_RemoveMember() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := newPair(ctx)
	defer p.close()

	if err := p.n1.AddLearner(ctx, "n2", p.addr2); err != nil {
		log.Fatal(err)
	}
	if err := p.n1.RemoveMember(ctx, "n2"); err != nil {
		log.Fatal(err)
	}
	members(p.n1)
	// Output:
	// n1 voter
}

func ExampleDB_VerifyPeer() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := newPair(ctx)
	defer p.close()

	// n2 holds the same cluster secret: it may be added.
	fmt.Println(p.n1.VerifyPeer(ctx, "n2", p.addr2))
	// Output: <nil>
}

func ExampleDB_TransferLeadership() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := newPair(ctx)
	defer p.close()

	p.addCaughtUpVoter(ctx)
	if err := p.n1.TransferLeadership(ctx, "n2"); err != nil {
		log.Fatal(err)
	}
	leader, err := p.n1.WaitLeader(ctx)
	fmt.Println(leader, err)
	// Output: n2 <nil>
}

func ExampleDB_WaitLeader() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := yggr.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	leader, err := db.WaitLeader(ctx)
	fmt.Println(leader, err)
	// Output: n1 <nil>
}

func ExampleDB_ID() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	db, err := yggr.Open(dir, nil) // a single node is n1 unless WithID says otherwise
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	fmt.Println(db.ID())
	// Output: n1
}

func ExampleDB_Close() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := yggr.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Put(ctx, []byte("k"), []byte("v")); err != nil {
		log.Fatal(err)
	}
	fmt.Println(db.Close())
	// Closed, it answers nothing; its data stays in dir for the next Open.
	_, err = db.Get(ctx, []byte("k"))
	fmt.Println(err == yggr.ErrClosed)
	// Output:
	// <nil>
	// true
}

func ExampleDB_Put() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := yggr.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// Put returns once the write is committed and applied: a read on any
	// node that follows sees it.
	if err := db.Put(ctx, []byte("color"), []byte("blue")); err != nil {
		log.Fatal(err)
	}
	v, err := db.Get(ctx, []byte("color"))
	fmt.Println(string(v), err)
	// Output: blue <nil>
}

func ExampleDB_PutIndex() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := yggr.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// The index is the write's revision: the key's ModIndex, and a bound
	// for reads that must see it (AtLeast).
	index, err := db.PutIndex(ctx, []byte("k"), []byte("v"))
	if err != nil {
		log.Fatal(err)
	}
	it, err := db.GetItem(ctx, []byte("k"))
	fmt.Println(it.ModIndex == index, err)
	// Output: true <nil>
}

func ExampleDB_DeleteIndex() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := yggr.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	put, _ := db.PutIndex(ctx, []byte("k"), []byte("v"))
	del, existed, err := db.DeleteIndex(ctx, []byte("k"))
	fmt.Println(del > put, existed, err)
	_, existed, err = db.DeleteIndex(ctx, []byte("k"))
	fmt.Println(existed, err)
	// Output:
	// true true <nil>
	// false <nil>
}

func ExampleDB_OldestRevision() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := yggr.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	index, _ := db.PutIndex(ctx, []byte("k"), []byte("v"))
	// A watch can start from any revision from OldestRevision on.
	fmt.Println(db.OldestRevision() <= index)
	// Output: true
}

func ExampleDB_ClusterStatus() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := yggr.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.WaitLeader(ctx); err != nil {
		log.Fatal(err)
	}
	// A write returns once applied: the node has applied what it
	// committed (right after an election its first entry may not be yet,
	// a lag of 1).
	if err := db.Put(ctx, []byte("k"), []byte("v")); err != nil {
		log.Fatal(err)
	}

	for _, m := range db.ClusterStatus(ctx) {
		fmt.Println(m.ID, m.Self, m.Reachable, m.Role, m.Lag)
	}
	// Output: n1 true true leader 0
}

func ExampleDB_Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := newPair(ctx)
	defer func() {
		p.n2.Close()
		for _, d := range p.dirs {
			os.RemoveAll(d)
		}
	}()

	p.addCaughtUpVoter(ctx)
	term := p.n1.Status().Term
	// The leader hands off to n2 before it closes (n2 is elected in the
	// next term at once, with no election timeout to wait out), then
	// closes as Close does.
	fmt.Println(p.n1.Shutdown(ctx))
	fmt.Println(p.n2.Status().Term == term+1)
	// Output:
	// <nil>
	// true
}

func ExampleDB_HandOff() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := newPair(ctx)
	defer p.close()

	p.addCaughtUpVoter(ctx)
	to, err := p.n1.HandOff(ctx) // n1 leads: it hands off
	fmt.Println(to, err)
	to, err = p.n1.HandOff(ctx) // n1 no longer leads: nothing to do
	fmt.Printf("%q %v\n", to, err)
	// Output:
	// n2 <nil>
	// "" <nil>
}
