package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// system is a three-node cluster under test.
type system interface {
	// Put writes through the current leader.
	Put(ctx context.Context, key, value []byte) error
	// Read reads key with the given consistency ("linearizable", "lease",
	// "stale"); errUnsupported if the system has no such read.
	Read(ctx context.Context, mode string, key []byte) error
	// StopFollower stops one follower and returns a handle to restart it.
	StopFollower(ctx context.Context) (restart func(ctx context.Context) (total, open time.Duration, err error), err error)
	// Failover stops the leader and returns the time from the stop to the
	// next successful write through another node.
	Failover(ctx context.Context) (time.Duration, error)
	Close() error
}

// serverProcs is a system whose nodes are processes of their own (not
// inside the harness's process), so that their CPU time and memory are
// measured apart from the load generator's.
type serverProcs interface {
	// ServerCPU returns the CPU time the running server processes have
	// used so far, summed. No load row stops or starts a server, so the
	// difference over a row is the servers' CPU during it.
	ServerCPU() time.Duration
	// ServerMem returns the sum of the nodes' VmHWM and VmRSS in MiB.
	ServerMem() (hwm, rss float64)
}

// leaderProcs is a serverProcs system that can tell its leader's process
// apart, so that a row's server CPU is also reported for the leader alone
// (the followers' share is the rest).
type leaderProcs interface {
	serverProcs
	// leader returns the index of the node that leads now.
	leader(ctx context.Context) (int, error)
	// NodeCPU returns the CPU time node i's running process has used so
	// far (0 if it is not running).
	NodeCPU(i int) time.Duration
}

// leaderLookupTimeout bounds withCPU's search for the leader before a row.
const leaderLookupTimeout = 5 * time.Second

// withCPU runs load and sets the result's CPU per successful operation:
// this process's (getrusage), the servers' if sys has server processes,
// and the leader's if sys can name it (the node leading when the row
// starts; no load row moves leadership).
func withCPU(sys system, load func() Result) Result {
	sp, _ := sys.(serverProcs)
	lp, _ := sys.(leaderProcs)
	lead := -1
	if lp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), leaderLookupTimeout)
		if l, err := lp.leader(ctx); err == nil {
			lead = l
		}
		cancel()
	}
	var srv0, lead0 time.Duration
	if sp != nil {
		srv0 = sp.ServerCPU()
	}
	if lead >= 0 {
		lead0 = lp.NodeCPU(lead)
	}
	self0 := selfCPU()
	r := load()
	self := selfCPU() - self0
	if r.Ops > 0 {
		r.CPUUsPerOp = float64(self.Microseconds()) / float64(r.Ops)
		if sp != nil {
			r.ServerCPUUsPerOp = float64((sp.ServerCPU() - srv0).Microseconds()) / float64(r.Ops)
		}
		if lead >= 0 {
			r.LeaderCPUUsPerOp = float64((lp.NodeCPU(lead) - lead0).Microseconds()) / float64(r.Ops)
		}
	}
	return r
}

// failoverNoter is a system that explains its last failover measurement
// (appended to the row's note).
type failoverNoter interface{ FailoverNote() string }

// killFailover is a system of server processes whose leader can be
// killed (SIGKILL) and measured like Failover; it restarts the killed node
// before it returns, so that the graceful failover can follow.
type killFailover interface {
	FailoverKill(ctx context.Context) (time.Duration, error)
}

// workload names, in run order. failover is last: it leaves two nodes.
var allWorkloads = []string{"write", "read", "write1k", "catchup", "failover"}

// runSystem runs the selected workloads on sys and returns the rows.
func runSystem(ctx context.Context, name string, sys system, cfg config, want map[string]bool) []Result {
	var out []Result
	add := func(r Result) {
		r.System = name
		slog.Info("bench: row", "system", name, "workload", r.Workload, "conc", r.Concurrency,
			"ops/s", fmt.Sprintf("%.0f", r.OpsPerSec), "p50ms", fmt.Sprintf("%.2f", r.P50Ms),
			"p99ms", fmt.Sprintf("%.2f", r.P99Ms), "value_ms", fmt.Sprintf("%.1f", r.ValueMs), "err", r.Err, "load1", r.Load1)
		out = append(out, r)
	}
	small := make([]byte, 128)
	big := make([]byte, 1024)
	for i := range big {
		big[i] = byte(i)
		if i < len(small) {
			small[i] = byte(i)
		}
	}
	var seq int64 // distinct keys across runs
	writes := func(workload string, conc int, val []byte) {
		base := seq
		l := load1()
		r := withCPU(sys, func() Result {
			return runLoad(ctx, conc, cfg.duration, 0, func(ctx context.Context, i int64) error {
				return sys.Put(ctx, key16(base+i), val)
			})
		})
		seq += r.Ops + r.Errors + int64(conc)
		r.Workload, r.Load1 = workload, l
		add(r)
	}
	if want["write"] {
		for _, c := range cfg.concs {
			writes("write-128B", c, small)
		}
	}
	if want["read"] {
		const nkeys = 1000
		r := runLoad(ctx, 64, time.Minute, nkeys, func(ctx context.Context, i int64) error {
			return sys.Put(ctx, key16(1e12+i), small)
		})
		if r.Ops < nkeys {
			add(Result{Workload: "read-setup", Err: fmt.Sprintf("only %d of %d keys written", r.Ops, nkeys)})
		}
		for _, mode := range []string{"linearizable", "lease", "stale"} {
			l := load1()
			if err := sys.Read(ctx, mode, key16(1e12+1)); err == errUnsupported {
				continue
			}
			r := withCPU(sys, func() Result {
				return runLoad(ctx, 64, cfg.duration, 0, func(ctx context.Context, i int64) error {
					return sys.Read(ctx, mode, key16(1e12+1+i%nkeys))
				})
			})
			r.Workload, r.Load1 = "read-"+mode, l
			add(r)
		}
	}
	if want["write1k"] {
		writes("write-1KiB", 64, big)
	}
	if want["catchup"] {
		add(catchup(ctx, sys, cfg, small))
	}
	if want["snapshot"] && cfg.snapshotKeys > 0 {
		if ss, ok := sys.(snapshotter); ok {
			for _, r := range snapshotImpact(ctx, ss, cfg, small) {
				add(r)
			}
		}
	}
	if want["watch"] {
		if ws, ok := sys.(watchSystem); ok {
			for _, r := range watchFanout(ctx, ws, cfg, small) {
				add(r)
			}
		}
	}
	if want["failover"] {
		if ks, ok := sys.(killFailover); ok {
			l := load1()
			d, err := ks.FailoverKill(ctx)
			r := Result{Workload: "failover-kill", ValueMs: ms(d), Load1: l,
				Note: "SIGKILL of the leader's process to next successful write via another node (the killed node is restarted afterwards)"}
			if err != nil {
				r.Err = err.Error()
			}
			add(r)
		}
		l := load1()
		d, err := sys.Failover(ctx)
		r := Result{Workload: "failover", ValueMs: ms(d), Load1: l, Note: "graceful stop of the leader to next successful write via another node"}
		if fn, ok := sys.(failoverNoter); ok {
			r.Note += "; " + fn.FailoverNote()
		}
		if err != nil {
			r.Err = err.Error()
		}
		add(r)
	}
	return out
}

// catchup stops a follower, writes cfg.catchupEntries entries at
// concurrency 64, restarts the follower and measures until it has applied
// the leader's last index.
func catchup(ctx context.Context, sys system, cfg config, val []byte) Result {
	l := load1()
	r := Result{Workload: "catchup", Load1: l}
	restart, err := sys.StopFollower(ctx)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	n := int64(cfg.catchupEntries)
	w := runLoad(ctx, 64, cfg.catchupMax, n, func(ctx context.Context, i int64) error {
		return sys.Put(ctx, key16(2e12+i), val)
	})
	d, open, err := restart(ctx)
	r.ValueMs = ms(d)
	r.Ops = w.Ops
	r.Note = fmt.Sprintf("follower missed %d entries (written at %.0f/s); time from restart (Open) to applied >= leader's last index; of which Open took %.0f ms",
		w.Ops, w.OpsPerSec, ms(open))
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// snapshotter is a system that can bulk-load keys and take a snapshot on
// every node on demand (the snapshot-impact workload).
type snapshotter interface {
	system
	// Load writes key16(base+i) = val for i in [0, n), batched.
	Load(ctx context.Context, base, n int64, val []byte) error
	// SnapshotAll snapshots every running node at once and returns each
	// node's duration, the leader's first.
	SnapshotAll(ctx context.Context) ([]time.Duration, error)
}

// snapshotImpact loads cfg.snapshotKeys keys (16 B keys, 128 B values),
// measures writes at concurrency 16 for cfg.duration as a baseline, then
// snapshots every node while measuring writes for the same duration.
func snapshotImpact(ctx context.Context, sys snapshotter, cfg config, val []byte) []Result {
	l := load1()
	t0 := time.Now()
	if err := sys.Load(ctx, 5e12, int64(cfg.snapshotKeys), val); err != nil {
		return []Result{{Workload: "snapshot-baseline", Concurrency: 16, Load1: l, Err: err.Error()}}
	}
	loaded := time.Since(t0)
	// A first snapshot on every node ends any automatic snapshot the load
	// started and compacts the log, so that the baseline has no snapshot.
	settle, err := sys.SnapshotAll(ctx)
	if err != nil {
		return []Result{{Workload: "snapshot-baseline", Concurrency: 16, Load1: l, Err: "settling snapshot: " + err.Error()}}
	}
	put := func(base int64) func(ctx context.Context, i int64) error {
		return func(ctx context.Context, i int64) error { return sys.Put(ctx, key16(base+i), val) }
	}
	l = load1()
	base := runLoad(ctx, 16, cfg.duration, 0, put(6e12))
	base.Workload, base.Load1 = "snapshot-baseline", l
	base.Note = fmt.Sprintf("writes at c=16 after loading %d keys (16 B keys, 128 B values, batches of 128) in %.1f s and a settling snapshot (leader %.0f ms)",
		cfg.snapshotKeys, loaded.Seconds(), ms(settle[0]))
	type snapDone struct {
		ds  []time.Duration
		err error
	}
	done := make(chan snapDone, 1)
	l = load1()
	// Owned by snapshotImpact, which waits for it below; ends when every
	// node's snapshot has finished.
	go func() {
		ds, err := sys.SnapshotAll(ctx)
		done <- snapDone{ds, err}
	}()
	during := runLoad(ctx, 16, cfg.duration, 0, put(7e12))
	sd := <-done
	during.Workload, during.Load1 = "snapshot-during", l
	var dms []string
	for _, d := range sd.ds {
		dms = append(dms, fmt.Sprintf("%.0f", ms(d)))
	}
	during.Note = fmt.Sprintf("writes at c=16 for %v from the moment every node starts a snapshot of %d keys; snapshot took (leader, followers) %s ms; p99 during/baseline %.2f×",
		cfg.duration, cfg.snapshotKeys, strings.Join(dms, ", "), div(during.P99Ms, base.P99Ms))
	if sd.err != nil {
		during.Err = sd.err.Error()
	}
	return []Result{base, during}
}

// bulkLoad runs batch for b in [1, nb] on 16 workers. A failed batch (a
// leader change under load) is retried up to 20 times, each attempt with
// its own 10 s timeout: the batches of a load are idempotent puts.
func bulkLoad(ctx context.Context, nb int64, batch func(ctx context.Context, b int64) error) error {
	var next atomic.Int64
	errs := make([]error, 16)
	var wg sync.WaitGroup
	for w := range errs {
		wg.Add(1)
		// Owned by bulkLoad, which waits for it; ends after the last batch,
		// on a batch that failed 20 times, or when ctx ends.
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				b := next.Add(1)
				if b > nb {
					return
				}
				var err error
				for range 20 {
					actx, cancel := context.WithTimeout(ctx, 10*time.Second)
					err = batch(actx, b)
					cancel()
					if err == nil || ctx.Err() != nil {
						break
					}
					time.Sleep(10 * time.Millisecond) // back off; bounded by the attempt count
				}
				if err != nil {
					errs[w] = fmt.Errorf("batch %d: %w", b, err)
					return
				}
			}
			errs[w] = ctx.Err()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
