package yggr

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/testutil"
)

// BenchmarkCatchUp is the bench/ "catchup" workload in one process (issue
// 15): a three-node QUIC cluster at the default timing (WithTiming
// overrides the test cluster's 20 ms ticks), one follower closed, entries
// (YGGR_CATCHUP_ENTRIES, default 100000) of 128 B written at concurrency
// 64, the follower reopened on the same directory; one op is the time from
// the reopen until its applied index reaches the leader's commit at the
// reopen. With YGGR_CATCHUP_PRELOAD=n the cluster first holds n keys (so
// that Open restores a large state, as in the full bench run, where the
// write rows before catchup leave 280k-450k keys, depending on the run's speed);
// YGGR_CATCHUP_PRELOAD_1K=n adds n keys of 1 KiB values (the bench's
// write-1KiB row leaves about 40k). Besides ns/op it
// reports the stages: open-ms (Open returned), contact-ms (the follower
// knows the leader), snap-ms (its snapshot index moved: a snapshot was
// installed; 0 if the log was streamed) and the leader's snapshot index.
// Diagnostics of the catch-up window alone: YGGR_CATCHUP_CPUPROFILE,
// YGGR_CATCHUP_TRACE, YGGR_CATCHUP_MEMPROFILE (allocations, with a .base
// profile from its start for pprof -base) and YGGR_CATCHUP_TIMELINE=1 (logs
// when the follower's commit stalls and the leader's view of it).
func BenchmarkCatchUp(b *testing.B) {
	entries := envInt(b, "YGGR_CATCHUP_ENTRIES", 100000)
	preload := envInt(b, "YGGR_CATCHUP_PRELOAD", 0)
	var open, contact, snap, total time.Duration
	var leaderSnap, snaps uint64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := newQUICClusterTB(b, 3, WithTiming(DefaultTick, DefaultElectionTicks), WithLeaseReads())
		ctx := context.Background()
		l := c.leader(ctx)
		if preload > 0 {
			writeN(b, c.dbs[l], preload, "pre-")
		}
		if k := envInt(b, "YGGR_CATCHUP_PRELOAD_1K", 0); k > 0 {
			v1k := make([]byte, 1024)
			parallel(b, 64, int64(k), func(i int64) error {
				return c.dbs[l].Put(ctx, []byte(fmt.Sprintf("big-%010d", i)), v1k)
			})
		}
		f := ""
		for _, id := range c.ids {
			if id != l && f == "" {
				f = id
			}
		}
		c.crash(f)
		writeN(b, c.dbs[l], entries, "key-")
		target := c.dbs[l].Status().Commit
		stopProf := profileWindow(b)
		b.StartTimer()
		t0 := time.Now()
		c.restart(f)
		db := c.dbs[f]
		o := time.Since(t0)
		snap0 := db.Status().SnapshotIndex
		var ct, sn time.Duration
		deadline := t0.Add(60 * time.Second)
		tl := timeline{on: os.Getenv("YGGR_CATCHUP_TIMELINE") != ""}
		for {
			st := db.Status()
			now := time.Since(t0)
			if tl.on {
				tl.observe(b, now, st, c.dbs[l].Status(), f)
			}
			if ct == 0 && st.Leader != "" {
				ct = now
			}
			if sn == 0 && st.SnapshotIndex != snap0 {
				sn = now
			}
			if st.Applied >= target {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("follower %s applied %d of %d after 60 s", f, st.Applied, target)
			}
			time.Sleep(200 * time.Microsecond) // polling interval, bounded by deadline
		}
		b.StopTimer()
		stopProf()
		total += time.Since(t0)
		open += o
		contact += ct
		snap += sn
		if sn != 0 {
			snaps++
		}
		leaderSnap += c.dbs[l].Status().SnapshotIndex
		c.close()
	}
	n := float64(b.N)
	b.ReportMetric(float64(open.Milliseconds())/n, "open-ms")
	b.ReportMetric(float64(contact.Milliseconds())/n, "contact-ms")
	b.ReportMetric(float64(snap.Milliseconds())/n, "snap-ms")
	b.ReportMetric(float64(total.Milliseconds())/n, "total-ms")
	b.ReportMetric(float64(snaps)/n, "snapshots/op")
	b.ReportMetric(float64(leaderSnap)/n, "leader-snap-index")
}

// profileWindow starts a CPU profile (YGGR_CATCHUP_CPUPROFILE=file) and
// an execution trace (YGGR_CATCHUP_TRACE=file) of the catch-up alone,
// from the reopen to caught up; the files get the round's number appended.
func profileWindow(b *testing.B) (stop func()) {
	var stops []func()
	round := strconv.Itoa(profileRound)
	profileRound++
	if p := os.Getenv("YGGR_CATCHUP_CPUPROFILE"); p != "" {
		f, err := os.Create(p + "." + round)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if p := os.Getenv("YGGR_CATCHUP_TRACE"); p != "" {
		f, err := os.Create(p + "." + round)
		if err != nil {
			b.Fatal(err)
		}
		if err := trace.Start(f); err != nil {
			b.Fatal(err)
		}
		stops = append(stops, func() { trace.Stop(); f.Close() })
	}
	if p := os.Getenv("YGGR_CATCHUP_MEMPROFILE"); p != "" {
		write := func(name string) {
			f, err := os.Create(name)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				b.Fatal(err)
			}
		}
		write(p + "." + round + ".base")
		stops = append(stops, func() { write(p + "." + round) })
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

var profileRound int

// timeline logs (YGGR_CATCHUP_TIMELINE=1) the follower's indexes and the
// leader's view of it whenever the latter changes state or the follower's
// commit has not moved for 20 ms: where a catch-up waits.
type timeline struct {
	on         bool
	lastState  string
	lastCommit uint64
	commitAt   time.Duration
	stalled    bool
}

func (t *timeline) observe(b *testing.B, now time.Duration, st, lst Status, f string) {
	var fs FollowerStatus
	for _, x := range lst.Followers {
		if x.ID == f {
			fs = x
		}
	}
	line := func(why string) {
		b.Logf("%7.1f ms %-8s applied %d commit %d last %d snap %d | leader commit %d: %s match %d next %d",
			float64(now.Microseconds())/1000, why, st.Applied, st.Commit, st.LastIndex, st.SnapshotIndex,
			lst.Commit, fs.State, fs.Match, fs.Next)
	}
	if fs.State != t.lastState {
		t.lastState = fs.State
		line("state")
	}
	if st.Commit != t.lastCommit {
		if t.stalled {
			line("resumed")
		}
		t.lastCommit, t.commitAt, t.stalled = st.Commit, now, false
	} else if !t.stalled && now-t.commitAt > 20*time.Millisecond && st.Applied < lst.Commit {
		t.stalled = true
		line("stalled")
	}
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		b.Fatalf("%s=%q: want a non-negative integer", name, s)
	}
	return v
}

// writeN writes n keys prefix+%010d with 128 B values from 64 goroutines.
func writeN(b *testing.B, db *DB, n int, prefix string) {
	ctx := context.Background()
	val := make([]byte, 128)
	parallel(b, 64, int64(n), func(i int64) error {
		return db.Put(ctx, []byte(fmt.Sprintf("%s%010d", prefix, i)), val)
	})
	if b.Failed() {
		b.FailNow()
	}
}

// BenchmarkReopen times Open of a single-node database whose snapshot
// holds YGGR_REOPEN_KEYS keys (default 150000) of 16 B/128 B and whose log
// holds the 20000 single puts after it: the part of a restarted
// follower's catch-up before it can receive anything (issue 15). One op is
// one Open and a linearizable read (the Close after it is not timed):
// open-ms is Open alone, read-ms until the read was served. With YGGR_REOPEN_COLD=1 the
// snapshot's files are dropped from the page cache before every Open (as
// after writing them with O_DIRECT, or a reboot), so that Open reads them
// from the device.
func BenchmarkReopen(b *testing.B) {
	keys := envInt(b, "YGGR_REOPEN_KEYS", 150000)
	dir := b.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	val := make([]byte, 128)
	for i := 0; i < keys; i += 100 {
		var t Txn
		for j := i; j < min(i+100, keys); j++ {
			t.Then = append(t.Then, Request{Op: OpPut, Key: []byte(fmt.Sprintf("pre-%012d", j)), Value: val})
		}
		if _, err := db.Txn(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.Snapshot(ctx); err != nil {
		b.Fatal(err)
	}
	writeN(b, db, 20000, "tail-")
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	cold := envInt(b, "YGGR_REOPEN_COLD", 0) != 0
	var opened, served time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if cold {
			b.StopTimer()
			dropCached(b, dir)
			b.StartTimer()
		}
		start := time.Now()
		db, err := Open(dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		opened += time.Since(start)
		// The first linearizable read waits for the log above the
		// snapshot to be applied, whether Open applied it or not.
		if _, err := db.Get(ctx, []byte("pre-000000000000")); err != nil {
			b.Fatal(err)
		}
		served += time.Since(start)
		b.StopTimer()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(opened.Milliseconds())/float64(b.N), "open-ms")
	b.ReportMetric(float64(served.Milliseconds())/float64(b.N), "read-ms")
}

// dropCached drops the snapshot files under dir from the page cache.
func dropCached(b *testing.B, dir string) {
	files, err := filepath.Glob(filepath.Join(dir, "snapshots", "*", "*"))
	if err != nil || len(files) == 0 {
		b.Fatalf("snapshot files under %s: %v %v", dir, files, err)
	}
	for _, p := range files {
		if err := testutil.DropFileCache(p); err != nil {
			b.Fatal(err)
		}
	}
}
