package sim

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr/engine"
)

// traceLen is YGGR_SIM_TRACE (default 200): trace lines in a failure.
func traceLen(t *testing.T) int { return envInt(t, "YGGR_SIM_TRACE", 200) }

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, s)
	}
	return n
}

// seeds returns the seeds to run: YGGR_SIM_SEED alone if set, else
// 1..YGGR_SIM_SEEDS (default def).
func seeds(t *testing.T, def int) []uint64 { return seedsFrom(t, "", def) }

// seedsFrom is seeds with a test's own count variable, which, if set,
// takes precedence over YGGR_SIM_SEEDS.
func seedsFrom(t *testing.T, name string, def int) []uint64 {
	if s := os.Getenv("YGGR_SIM_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("YGGR_SIM_SEED=%q: %v", s, err)
		}
		return []uint64{n}
	}
	n := envInt(t, "YGGR_SIM_SEEDS", def)
	if name != "" {
		n = envInt(t, name, n)
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// fail reports a violation with its trace and the command that replays it.
func fail(t *testing.T, err error, replay string) {
	t.Helper()
	var v *Violation
	if errors.As(err, &v) {
		t.Fatalf("%s\nreplay: YGGR_SIM_SEED=%d %s", v.Report(), v.Seed, replay)
	}
	t.Fatalf("sim: %v", err)
}

// TestChaos runs many seeds of each cluster size under every fault.
func TestChaos(t *testing.T) {
	steps := envInt(t, "YGGR_SIM_STEPS", 1500)
	for _, n := range []int{3, 5, 7} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			t.Parallel() // three subtests on two cores
			start := time.Now()
			var total Stats
			var engineSteps uint64
			storm := envInt(t, "YGGR_SIM_STORM", 1)
			for _, seed := range seeds(t, 128) {
				st, err := Run(Options{Seed: seed, Nodes: n, Steps: steps, TraceLen: traceLen(t), Storm: float64(storm)})
				if err != nil {
					fail(t, err, fmt.Sprintf("YGGR_SIM_STORM=%d YGGR_SIM_STEPS=%d go test ./internal/sim -run 'TestChaos/n=%d$' -v", storm, steps, n))
				}
				total.Steps += st.Steps
				engineSteps += st.EngineSteps
				total.WritesAcked += st.WritesAcked
				total.ReadsServed += st.ReadsServed
				total.ReadsFollower += st.ReadsFollower
				total.ReadsLease += st.ReadsLease
				total.ConfChanges += st.ConfChanges
				total.Transfers += st.Transfers
				total.Crashes += st.Crashes
				total.Partitions += st.Partitions
				total.Installs += st.Installs
				total.Snapshots += st.Snapshots
				total.Filled += st.Filled
				total.HostApplied += st.HostApplied
				total.ChunkGaps += st.ChunkGaps
				total.Leaders += st.Leaders
			}
			el := time.Since(start)
			t.Logf("%d steps (%.0f steps/s), %d engine steps (%.0f/s); writes acked %d, reads %d (follower %d, lease %d), leaders %d, conf changes %d, transfers %d, crashes %d, partitions %d, snapshots %d, installs %d, entries filled from logs %d, applied by hosts before Recover %d, snapshot chunk gaps %d",
				total.Steps, float64(total.Steps)/el.Seconds(), engineSteps, float64(engineSteps)/el.Seconds(),
				total.WritesAcked, total.ReadsServed, total.ReadsFollower, total.ReadsLease, total.Leaders, total.ConfChanges, total.Transfers, total.Crashes, total.Partitions, total.Snapshots, total.Installs, total.Filled, total.HostApplied, total.ChunkGaps)
			if total.Filled == 0 {
				t.Error("no entry was filled from a log: EntryCacheBytes is not exercised")
			}
			if total.HostApplied == 0 {
				t.Error("no host applied entries before Recover: Recover.Applied is not exercised")
			}
			if total.ChunkGaps == 0 {
				t.Error("no follower reported a snapshot chunk beyond its offset: windowed transfers under reordering, loss and restarts are not exercised")
			}
		})
	}
}

// livenessSeeds is TestLiveness's default number of seeds per cluster
// size, sized for CI (2 cores, the whole package within about 90 s):
// 3 x 300 seeds took 16-17 s of CPU with and without CI's coverage
// (about 20 ms a seed, 7 nodes the slowest), where the rest of the package
// takes about 33 s, and the package then took 91 s on a shared 2-core
// machine (45 s before); 200 keeps a margin. YGGR_SIM_LIVENESS_SEEDS (or
// YGGR_SIM_SEEDS) sets it; scripts/soak.sh runs 3000.
const livenessSeeds = 200

// TestLiveness runs chaos, heals everything, and requires progress. It
// logs the slowest liveness phase of the sweep, in election timeouts, to
// show the margin left under the bound (40 election timeouts).
func TestLiveness(t *testing.T) {
	steps := envInt(t, "YGGR_SIM_STEPS", 1500) / 3
	for _, n := range []int{3, 5, 7} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			t.Parallel()
			var worst float64
			var worstSeed uint64
			for _, seed := range seedsFrom(t, "YGGR_SIM_LIVENESS_SEEDS", livenessSeeds) {
				st, err := Run(Options{Seed: seed, Nodes: n, Steps: steps, Liveness: true, TraceLen: traceLen(t)})
				if err != nil {
					fail(t, err, fmt.Sprintf("YGGR_SIM_STEPS=%d go test ./internal/sim -run 'TestLiveness/n=%d$' -v", steps*3, n))
				}
				if f := float64(st.LivenessTicks) / float64(st.ElectionTicks); f > worst {
					worst, worstSeed = f, seed
				}
			}
			t.Logf("slowest liveness phase: %.1f election timeouts (seed %d)", worst, worstSeed)
		})
	}
}

// TestCalm runs without faults: everything must make steady progress.
func TestCalm(t *testing.T) {
	for _, n := range []int{3, 5} {
		st, err := Run(Options{Seed: 42, Nodes: n, Steps: 400, Calm: true, Liveness: true})
		if err != nil {
			fail(t, err, "go test ./internal/sim -run 'TestCalm' -v")
		}
		if st.WritesAcked < 50 || st.ReadsServed < 50 {
			t.Errorf("n=%d: got %d writes acked and %d reads served in 400 calm ticks, want at least 50 each", n, st.WritesAcked, st.ReadsServed)
		}
	}
}

// TestDeterministic: one seed, one run, down to the failure trace.
func TestDeterministic(t *testing.T) {
	a, errA := Run(Options{Seed: 9, Nodes: 5, Steps: 300})
	b, errB := Run(Options{Seed: 9, Nodes: 5, Steps: 300})
	if fmt.Sprint(errA) != fmt.Sprint(errB) || a != b {
		t.Fatalf("got %+v (%v) then %+v (%v), want identical runs", a, errA, b, errB)
	}
	c, d := Run(Options{Seed: 7, Nodes: 3, Steps: 1500, NewEngine: adversaryEngine("fast-read")})
	e, f := Run(Options{Seed: 7, Nodes: 3, Steps: 1500, NewEngine: adversaryEngine("fast-read")})
	var v1, v2 *Violation
	if !errors.As(d, &v1) || !errors.As(f, &v2) {
		t.Fatalf("got %v and %v, want two violations", d, f)
	}
	if diff := cmp.Diff(v1.Report(), v2.Report()); diff != "" || c != e {
		t.Fatalf("replayed failure differs (-first +second):\n%s", diff)
	}
	if len(v1.Trace) < 150 {
		t.Errorf("got %d trace lines, want about 200", len(v1.Trace))
	}
}

// BenchmarkRun measures simulator throughput; steps/s is reported.
func BenchmarkRun(b *testing.B) {
	steps := 0
	start := time.Now()
	for i := range b.N {
		st, err := Run(Options{Seed: uint64(i + 1), Nodes: 5, Steps: 300})
		if err != nil {
			b.Fatal(err)
		}
		steps += st.Steps
	}
	b.ReportMetric(float64(steps)/time.Since(start).Seconds(), "steps/s")
}

// withLease turns lease reads on for every seed whose configuration allows
// them (check-quorum on).
func withLease(c *engine.Config) {
	if !c.DisableCheckQuorum && c.LeaseTicks == 0 {
		c.LeaseTicks = c.ElectionTicks - max(1, c.ElectionTicks/5)
	}
}

// TestChaosHostLease runs the chaos workload with lease reads served by the
// hosts from Engine.Lease on their own clocks (as internal/node does), with
// process pauses, which drop a paused host's ticks.
func TestChaosHostLease(t *testing.T) {
	steps := envInt(t, "YGGR_SIM_STEPS", 1500)
	storm := envInt(t, "YGGR_SIM_STORM", 2)
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			t.Parallel()
			var hostLease, pauses int
			for _, seed := range seeds(t, 48) {
				st, err := Run(Options{Seed: seed, Nodes: n, Steps: steps, TraceLen: traceLen(t), Storm: float64(storm), HostLease: true, Configure: withLease})
				if err != nil {
					fail(t, err, fmt.Sprintf("YGGR_SIM_STORM=%d YGGR_SIM_STEPS=%d go test ./internal/sim -run 'TestChaosHostLease/n=%d$' -v", storm, steps, n))
				}
				hostLease += st.ReadsHostLease
				pauses += st.Pauses
			}
			t.Logf("%d lease reads served by hosts, %d pauses", hostLease, pauses)
			if hostLease == 0 || pauses == 0 {
				t.Fatalf("the runs served %d host lease reads with %d pauses: nothing was exercised", hostLease, pauses)
			}
		})
	}
}

// TestHostLeaseByTicksIsCaught: a host that times its lease by the engine's
// tick count, which a pause leaves behind real time, serves stale reads;
// the checker must catch it. It catches about one seed in sixty (5 of
// seeds 1-300 at e0b3a5b, the first at 23; 17 of 1-1000 after the election
// timer fixes of FINDINGS.md 2026-12-04, the first at 247, as any engine
// change reshuffles the runs), so 600 seeds miss it with a probability
// near 3e-5, where 200 missed it with 3 %.
func TestHostLeaseByTicksIsCaught(t *testing.T) {
	const budget = 600
	for seed := uint64(1); seed <= budget; seed++ {
		_, err := Run(Options{Seed: seed, Nodes: 3, Steps: 1500, Storm: 4, HostLease: true, leaseByTicks: true, Configure: withLease})
		if err == nil {
			continue
		}
		var v *Violation
		if !errors.As(err, &v) || v.Property != "linearizability" {
			t.Fatalf("seed %d: got %v, want a linearizability violation", seed, err)
		}
		t.Logf("caught at seed %d step %d: %s", seed, v.Step, v.Detail)
		return
	}
	t.Fatalf("a tick-timed host lease went unnoticed for %d seeds", budget)
}

// TestChaosSnapshotBytes runs the chaos schedule with snapshots sized by
// bytes (the default: SnapshotEntries 0), with a small minimum so that they
// happen within a run. The other tests keep the SnapshotEntries bands their
// seeds were found with.
func TestChaosSnapshotBytes(t *testing.T) {
	steps := envInt(t, "YGGR_SIM_STEPS", 1500)
	var snapshots, installs int
	for _, n := range []int{3, 5} {
		for _, seed := range seeds(t, 48) {
			st, err := Run(Options{Seed: seed, Nodes: n, Steps: steps, TraceLen: traceLen(t), Configure: func(c *engine.Config) {
				c.SnapshotMinBytes = 64 + c.SnapshotEntries*8 // from the seed's own draw: 128 to 640 bytes
				c.SnapshotEntries = 0
			}})
			if err != nil {
				fail(t, err, fmt.Sprintf("YGGR_SIM_STEPS=%d go test ./internal/sim -run 'TestChaosSnapshotBytes$' -v", steps))
			}
			snapshots += st.Snapshots
			installs += st.Installs
		}
	}
	if snapshots == 0 || installs == 0 {
		t.Errorf("%d snapshots and %d installs in the runs: the policy is not exercised", snapshots, installs)
	}
	t.Logf("%d snapshots, %d installs", snapshots, installs)
}
