package engine

import (
	"testing"

	"pgregory.net/rapid"
)

// TestPropertyClusterSafety runs random schedules (deliver, reorder, drop,
// duplicate, tick, propose, read, crash/restart including crashes in the
// middle of carrying out a Step with unrequired writes lost, delayed
// persistence reports, transfer, snapshot, membership change, partition) on
// a cluster of three or five voters plus a spare and checks after every
// step: election safety, state machine safety, committed-prefix agreement,
// term and commit monotonicity, one vote per term across restarts, log
// contiguity, and that no read is answered below an index committed before
// it started.
func TestPropertyClusterSafety(t *testing.T) {
	setPropertyChecks(t)
	var filled uint64 // entries the hosts read back for Send.FillThrough
	defer func() {
		if !t.Failed() && filled == 0 {
			t.Error("no MsgApp asked its host to fill released entries: EntryCacheBytes is not exercised")
		}
		t.Logf("%d entries filled from the hosts' logs", filled)
	}()
	rapid.Check(t, func(rt *rapid.T) {
		lockstep := rapid.Bool().Draw(rt, "lockstep")
		opt := simOptions{
			lockstep:      lockstep,
			lease:         lockstep && rapid.Bool().Draw(rt, "lease"),
			preVote:       rapid.Bool().Draw(rt, "prevote"),
			five:          rapid.IntRange(0, 3).Draw(rt, "five") == 0,
			manualPersist: rapid.Bool().Draw(rt, "manualpersist"),
			steps:         rapid.IntRange(50, 500).Draw(rt, "steps"),
		}
		// The snapshot window (0: the default, 4) comes from the steps
		// drawn, not a draw of its own, so that the recorded failures in
		// testdata/rapid still replay.
		opt.snapshotWindow = opt.steps % 4
		env := newSimEnv(t, rt.Fatalf, opt)
		runSim(rapidChooser{rt}, env, opt)
		filled += env.filled
	})
}
