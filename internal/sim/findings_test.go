package sim

import (
	"fmt"
	"testing"

	"github.com/yggrdb/yggr/engine"
)

// TestFindingF1Seed replays the run that found F1: a follower read served
// at a read index the leader computed for a request from the follower's
// previous life, after a newer write was acknowledged.
func TestFindingF1Seed(t *testing.T) {
	_, err := Run(Options{Seed: 120, Nodes: 5, Steps: 1500, Storm: 4, TraceLen: traceLen(t)})
	if err != nil {
		fail(t, err, "go test ./internal/sim -run TestFindingF1Seed -v")
	}
}

// TestFindingF1 is the root cause of F1 in isolation: a follower that
// restarts reuses its MsgReadIndex batch contexts, so the leader's answer
// to a batch sent before the restart completes a read that started after
// it.
func TestFindingF1(t *testing.T) {
	peers := []engine.NodeID{"n1", "n2", "n3"}
	hs := engine.HardState{Term: 2, Vote: "n1"}
	var ents []engine.Entry
	for i := uint64(1); i <= 5; i++ {
		ents = append(ents, engine.Entry{Term: 2, Index: i, Data: putCommand("a", "x")})
	}
	// boot starts the follower n2 from the same durable state (as after a
	// crash), with a fresh seed as the simulator's hosts use, hears from the
	// leader, and asks for a read; it returns the engine and the context of
	// the MsgReadIndex it sent.
	boot := func(seed uint64, readID uint64) (*engine.Engine, uint64) {
		// Each process start has its own incarnation (the fix).
		e, err := engine.New(engine.Config{ID: "n2", Peers: peers, Seed: seed, Incarnation: seed})
		if err != nil {
			t.Fatal(err)
		}
		e.Step(engine.Recover{HardState: hs, Entries: ents})
		e.Step(engine.Receive{Msg: engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 2, Commit: 3}})
		var ctx uint64
		found := false
		for _, a := range e.Step(engine.Read{ID: readID}) {
			if s, ok := a.(engine.Send); ok && s.Msg.Type == engine.MsgReadIndex {
				ctx, found = s.Msg.Context, true
			}
		}
		if !found {
			t.Fatalf("seed %d: the follower sent no MsgReadIndex for read %d", seed, readID)
		}
		return e, ctx
	}
	_, oldCtx := boot(1, 1)
	e, _ := boot(2, 2)
	// The leader answers the batch the follower sent before it restarted,
	// with the read index of that time.
	late := engine.Message{Type: engine.MsgReadIndexResp, From: "n1", To: "n2", Term: 2, Context: oldCtx, Index: 3}
	for _, a := range e.Step(engine.Receive{Msg: late}) {
		if r, ok := a.(engine.ReadReady); ok {
			t.Fatalf("got ReadReady{ID: %d, Index: %d} from the answer to a batch sent before the restart, want no answer: the read may miss writes acknowledged in between", r.ID, r.Index)
		}
	}
}

// TestFindingF2Seed replays the run that found F2, a false alarm of the
// Leader Completeness check: n4 became leader of term 2 from delayed votes
// after entries were committed in term 3. Raft §5.4 requires a committed
// entry only in leaders of later terms; the check now compares against the
// term in which each entry was committed.
func TestFindingF2Seed(t *testing.T) {
	_, err := Run(Options{Seed: 125, Nodes: 5, Steps: 1500, Storm: 4, TraceLen: traceLen(t)})
	if err != nil {
		fail(t, err, "go test ./internal/sim -run TestFindingF2Seed -v")
	}
}

// TestLivenessSeeds replays the liveness failures of FINDINGS.md
// (2026-12-04, "Liveness"), all with ElectionTicks 4 or 7: elections that
// failed for 40 election timeouts because a candidate inherited what its
// pre-vote had left of the election timeout (5 nodes: seeds 301, 531; 7
// nodes: 754), because nodes with the longest logs restarted their timers
// whenever a candidate that could not win asked for their vote (7 nodes,
// seed 702, pre-vote off), and because nodes outside their own
// configuration refused every vote (3 nodes, seed 1547: a voter added
// while it held only an older snapshot, and a leader that removed itself).
func TestLivenessSeeds(t *testing.T) {
	for _, c := range []struct {
		nodes int
		seed  uint64
	}{{5, 301}, {5, 531}, {7, 754}, {7, 702}, {3, 1547}} {
		_, err := Run(Options{Seed: c.seed, Nodes: c.nodes, Steps: 500, Liveness: true, TraceLen: traceLen(t)})
		if err != nil {
			fail(t, err, fmt.Sprintf("YGGR_SIM_STEPS=1500 go test ./internal/sim -run 'TestLiveness/n=%d$' -v", c.nodes))
		}
	}
}
