package engine

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Status.PendingReads counts every read not yet answered: queued at the
// leader, forwarded in a batch, or waiting for the next batch; and
// MaxPendingReads bounds that sum.
func TestPendingReadsCountEveryStage(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.MaxPendingReads = 3 })
	c.elect("n1")
	c.tick()
	c.step("n1", Read{ID: 1})
	c.step("n2", Read{ID: 2}) // forwarded at once
	c.step("n2", Read{ID: 3}) // waits for the batch in flight
	c.step("n2", Read{ID: 4})
	got := c.nodes["n2"].e.Step(Read{ID: 5})
	want := []Action{ReadFailed{ID: 5, Err: ErrBusy, Leader: "n1"}}
	if d := cmp.Diff(want, got, cmpErrIs); d != "" {
		t.Errorf("read past MaxPendingReads (-want +got):\n%s", d)
	}
	if got := c.nodes["n1"].e.Status().PendingReads; got != 1 {
		t.Errorf("leader PendingReads = %d, want 1", got)
	}
	if got := c.nodes["n2"].e.Status().PendingReads; got != 3 {
		t.Errorf("follower PendingReads = %d, want 3 (1 forwarded, 2 waiting)", got)
	}
	c.stabilize(true)
	c.tick()
	for _, id := range []NodeID{"n1", "n2"} {
		if got := c.nodes[id].e.Status().PendingReads; got != 0 {
			t.Errorf("%s PendingReads = %d after the rounds, want 0", id, got)
		}
	}
	commit := c.nodes["n1"].e.log.commit
	if d := cmp.Diff(map[uint64]uint64{2: commit, 3: commit, 4: commit}, c.nodes["n2"].ready); d != "" {
		t.Errorf("n2 reads ready (-want +got):\n%s", d)
	}
}

// leaseCluster returns a 3-node cluster whose leader n1 holds a lease from
// a heartbeat round acknowledged at its last tick.
func leaseCluster(t *testing.T) *iEnv {
	t.Helper()
	c := newCluster(t, 3, func(cfg *Config) { cfg.LeaseTicks = 5 })
	c.elect("n1")
	c.tick()
	if !c.nodes["n1"].e.Status().LeaseValid {
		t.Fatal("no lease after an acknowledged round")
	}
	return c
}

// The lease of a round sent at tick t lasts until t+LeaseTicks, exclusive:
// Engine.Lease reports it held, at the commit index, through the last tick
// inside it, and not from t+LeaseTicks on, when a read needs a heartbeat
// round.
func TestLeaseEndsAtLeaseTicks(t *testing.T) {
	c := leaseCluster(t)
	n1 := c.nodes["n1"].e
	commit := n1.log.commit
	since := n1.Lease().Since
	c.drop = func(Message) bool { return true } // no more acknowledgements
	for i := 1; i <= 4; i++ {
		c.tick("n1")
		if !n1.Status().LeaseValid {
			t.Fatalf("lease gone %d ticks after its round (LeaseTicks 5)", i)
		}
	}
	want := LeaseState{Held: true, Since: since, Now: since + 4, Commit: commit}
	if d := cmp.Diff(want, n1.Lease()); d != "" {
		t.Errorf("lease 4 ticks after the round (-want +got):\n%s", d)
	}
	c.tick("n1")
	if n1.Status().LeaseValid || n1.Lease().Held {
		t.Fatal("lease still valid LeaseTicks ticks after its round")
	}
	for _, a := range n1.Step(Read{ID: 2}) {
		if _, ok := a.(ReadReady); ok {
			t.Fatalf("read answered without a round after the lease ended: %v", a)
		}
	}
	if got := n1.Status().PendingReads; got != 1 {
		t.Fatalf("PendingReads = %d, want the read queued for a round", got)
	}
}

// The leader remembers the send times of at most maxTrackedRounds
// unacknowledged rounds; acknowledging a round sent after that (its time
// forgotten) confirms reads but does not extend the lease. The next round
// is remembered again.
func TestLeaseUntrackedRoundDoesNotExtend(t *testing.T) {
	c := leaseCluster(t)
	n1 := c.nodes["n1"].e
	var last Message // the newest heartbeat to n2
	c.drop = func(m Message) bool {
		if m.Type == MsgHeartbeat && m.To == "n2" {
			last = m
		}
		return true
	}
	// n2 stays in touch (a duplicated acknowledgement of its match every
	// few ticks keeps check-quorum happy) but acknowledges no round.
	dup := Message{Type: MsgAppResp, From: "n2", To: "n1", Term: n1.term, Index: n1.log.commit}
	// The read arrives before the last round is sent, and waits for it.
	start := n1.reads.round
	for i := 0; i < maxTrackedRounds+1; i++ {
		if i == maxTrackedRounds {
			c.step("n1", Read{ID: 1})
		}
		c.tick("n1")
		if i%5 == 0 {
			c.step("n1", Receive{Msg: dup})
		}
	}
	if n1.role != Leader || last.Context != start+maxTrackedRounds+1 {
		t.Fatalf("leader %v, newest round %d: want leader, round %d", n1.role, last.Context, start+maxTrackedRounds+1)
	}
	ack := func() {
		c.drop = nil
		c.step("n2", Receive{Msg: last})
		c.stabilize(true)
	}
	ack()
	if _, ok := c.nodes["n1"].ready[1]; !ok {
		t.Fatal("the acknowledged round did not confirm the read")
	}
	if n1.Status().LeaseValid {
		t.Fatal("a round whose send time was not remembered extended the lease")
	}
	c.drop = func(m Message) bool {
		if m.Type == MsgHeartbeat && m.To == "n2" {
			last = m
		}
		return true
	}
	c.tick("n1")
	ack()
	if !n1.Status().LeaseValid {
		t.Fatal("the next round, remembered again, did not extend the lease")
	}
}

// heartbeatsTo returns the recipients of the heartbeats among as.
func heartbeatsTo(as []Action) []NodeID {
	var to []NodeID
	for _, a := range as {
		if s, ok := a.(Send); ok && s.Msg.Type == MsgHeartbeat {
			to = append(to, s.Msg.To)
		}
	}
	return to
}

// A round started for reads goes to as many voters as make a majority with
// the leader (none in a cluster of one), and their answers alone confirm
// it.
func TestReadRoundGoesToQuorum(t *testing.T) {
	for n := 1; n <= 7; n++ {
		t.Run(fmt.Sprintf("voters=%d", n), func(t *testing.T) {
			c := newCluster(t, n, nil)
			c.elect("n1")
			c.tick()
			as := c.nodes["n1"].e.Step(Read{ID: 1})
			to := heartbeatsTo(as)
			if got, want := len(to), quorum(n)-1; got != want {
				t.Fatalf("round sent to %v: %d followers, want %d", to, got, want)
			}
			c.run("n1", as)
			c.drop = func(m Message) bool {
				// Only the round's recipients could answer it anyway;
				// everyone else stays silent.
				return m.Type == MsgHeartbeat && !slices.Contains(to, m.To)
			}
			c.stabilize(true)
			if _, ok := c.nodes["n1"].ready[1]; !ok {
				t.Fatalf("read not confirmed by the answers of %v", to)
			}
		})
	}
}

// The round goes to the voters with the newest acknowledgements: followers
// that missed the last round are passed over while enough others answered
// it.
func TestReadRoundPrefersNewestAcks(t *testing.T) {
	c := newCluster(t, 5, nil)
	c.elect("n1")
	c.tick()
	// n2 and n3 miss a tick's round (it goes to everyone).
	c.drop = func(m Message) bool { return m.To == "n2" || m.To == "n3" }
	c.tick("n1")
	c.drop = nil
	as := c.nodes["n1"].e.Step(Read{ID: 1})
	if d := cmp.Diff([]NodeID{"n4", "n5"}, heartbeatsTo(as)); d != "" {
		t.Errorf("round recipients (-want +got):\n%s", d)
	}
	c.run("n1", as)
	c.stabilize(true)
	if _, ok := c.nodes["n1"].ready[1]; !ok {
		t.Fatal("read not confirmed")
	}
}

// A round for a follower's read goes to that follower, whatever its
// acknowledgements (it needs the commit index the heartbeat carries), and
// counts it toward the majority if it votes.
func TestReadRoundIncludesRequester(t *testing.T) {
	c := newCluster(t, 5, nil)
	c.elect("n1")
	c.tick()
	// n5 misses a round: it has the oldest acknowledgement.
	c.drop = func(m Message) bool { return m.To == "n5" }
	c.tick("n1")
	c.drop = nil
	c.step("n5", Read{ID: 1}) // forwarded to n1
	var req Message
	for _, m := range c.msgs {
		if m.Type == MsgReadIndex {
			req = m
		}
	}
	c.msgs = nil
	if req.From != "n5" {
		t.Fatalf("no MsgReadIndex from n5")
	}
	as := c.nodes["n1"].e.Step(Receive{Msg: req})
	if d := cmp.Diff([]NodeID{"n2", "n5"}, heartbeatsTo(as)); d != "" {
		t.Errorf("round recipients (-want +got):\n%s", d)
	}
	c.run("n1", as)
	c.stabilize(true)
	if _, ok := c.nodes["n5"].ready[1]; !ok {
		t.Fatal("follower read not answered")
	}
}

// A leader that steps down in its own term (check-quorum: it heard from
// no majority for an election timeout) fails the reads it queued.
func TestCheckQuorumStepDownFailsReads(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.elect("n1")
	c.tick()
	c.step("n1", Read{ID: 1})
	c.drop = func(Message) bool { return true }
	n1 := c.nodes["n1"].e
	for i := 0; i < 20 && n1.role == Leader; i++ {
		c.tick("n1")
	}
	if n1.role != Follower || n1.term != 1 {
		t.Fatalf("n1 is %s in term %d, want a follower in term 1", n1.role, n1.term)
	}
	if err := c.nodes["n1"].failed[1]; err != ErrSteppedDown {
		t.Fatalf("read 1: %v, want ErrSteppedDown", err)
	}
	if got := n1.Status().PendingReads; got != 0 {
		t.Fatalf("PendingReads = %d, want 0", got)
	}
}

// TestFollowerReadStaleAnswerAfterRestart is a regression test (found by
// TestPropertyClusterSafety): a follower numbered its read batches from 1 in
// every incarnation, so a leader's late answer to a batch sent before a
// crash matched the first batch sent after the restart, and the new read was
// served at an index older than entries committed before it started. Batch
// contexts now carry Config.Incarnation.
func TestFollowerReadStaleAnswerAfterRestart(t *testing.T) {
	env := newIEnv(t)
	env.out = &strings.Builder{}
	env.readFloor = map[uint64]uint64{}
	for _, id := range []NodeID{"n1", "n2", "n3"} {
		if err := env.addNode(Config{ID: id, Peers: []NodeID{"n1", "n2", "n3"}, Seed: uint64(len(env.ids) + 1)}, false); err != nil {
			t.Fatal(err)
		}
	}
	env.campaign("n1")
	env.stabilize(false)

	// n2 forwards a read; the leader's answer is held back in the network.
	env.readFloor[100] = env.nodes["n1"].e.log.commit
	env.step("n2", Read{ID: 100})
	var held []Message
	for i := 0; i < 100 && len(env.msgs) > 0; i++ {
		m := env.msgs[0]
		env.msgs = env.msgs[1:]
		if m.Type == MsgReadIndexResp && m.To == "n2" {
			held = append(held, m)
			continue
		}
		env.deliver(m)
	}
	if len(held) != 1 {
		t.Fatalf("held %d answers, want 1", len(held))
	}

	// n2 crashes; the cluster commits more entries meanwhile.
	env.nodes["n2"].e = nil
	env.step("n1", Propose{ID: 1, Data: []byte("x")})
	env.stabilize(false)

	// n2 restarts and learns the leader, then forwards a new read.
	env.restart("n2")
	env.step("n1", Tick{})
	env.stabilize(false)
	floor := env.nodes["n1"].e.log.commit
	env.readFloor[101] = floor
	env.step("n2", Read{ID: 101})

	// The stale answer arrives first: it must not serve read 101.
	env.deliver(held[0])
	env.stabilize(false)
	t.Log(env.out.String())
}
