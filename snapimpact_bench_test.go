package yggr

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSnapshotImpact is the bench harness's snapshot-impact workload
// in one process (issue 15): a three-node QUIC cluster with automatic
// snapshots off is loaded with YGGR_SNAPIMPACT_KEYS keys (default 300k;
// 16 B keys, 128 B values, transactions of 128 puts), snapshotted once to
// settle, then writes at concurrency 16 run for 3 s as a baseline and for
// 3 s from the moment every node starts a snapshot. It reports the p99 of
// both windows and their ratio; each b.N iteration is one more
// baseline/during pair on the same cluster. YGGR_SNAPIMPACT_PROF=prefix
// writes a CPU profile and an execution trace of the first during window.
// YGGR_SNAPIMPACT_RATE=n sets WithSnapshotWriteRate(n) (bytes per second,
// 0: no cap); unset, the nodes run with the default cap.
func BenchmarkSnapshotImpact(b *testing.B) {
	keys := 300_000
	if s := os.Getenv("YGGR_SNAPIMPACT_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("YGGR_SNAPIMPACT_KEYS=%q: want a positive integer", s)
		}
		keys = n
	}
	opts := []Option{WithSnapshotEntries(1 << 40)}
	if s := os.Getenv("YGGR_SNAPIMPACT_RATE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			b.Fatalf("YGGR_SNAPIMPACT_RATE=%q: want bytes per second, 0 or more", s)
		}
		opts = append(opts, WithSnapshotWriteRate(n))
	}
	c, db := benchCluster(b, opts...)
	ctx := context.Background()
	val := make([]byte, 128)
	key := func(base, i int64) []byte {
		k := make([]byte, 16)
		binary.BigEndian.PutUint64(k, uint64(base))
		binary.BigEndian.PutUint64(k[8:], uint64(i))
		return k
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() { // ends after the last batch or on the first error
			defer wg.Done()
			for {
				bt := next.Add(1) - 1
				if bt*128 >= int64(keys) {
					return
				}
				var t Txn
				for i := bt * 128; i < min((bt+1)*128, int64(keys)); i++ {
					t.Then = append(t.Then, Request{Op: OpPut, Key: key(1, i), Value: val})
				}
				if _, err := db.Txn(ctx, t); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	snapAll := func() ([]time.Duration, error) {
		ds := make([]time.Duration, len(c.ids))
		es := make([]error, len(c.ids))
		var wg sync.WaitGroup
		for i, id := range c.ids {
			wg.Add(1)
			go func() { // ends when this node's snapshot ends
				defer wg.Done()
				t0 := time.Now()
				_, es[i] = c.dbs[id].Snapshot(ctx)
				ds[i] = time.Since(t0)
			}()
		}
		wg.Wait()
		for _, err := range es {
			if err != nil {
				return ds, err
			}
		}
		return ds, nil
	}
	if _, err := snapAll(); err != nil {
		b.Fatal(err)
	}
	// stages reports, over a window, each node's mean fsync and the
	// mean propose stages of the node that led at the start, in ms.
	type hsnap struct {
		sum float64
		n   uint64
	}
	grab := func() []hsnap {
		var out []hsnap
		for _, id := range c.ids {
			m := c.dbs[id].Metrics()
			out = append(out, hsnap{m.FsyncSeconds.Sum, m.FsyncSeconds.Count})
		}
		m := db.Metrics()
		for _, h := range []Histogram{m.ProposeQueueSeconds, m.ProposeCommitSeconds, m.ProposeApplySeconds, m.ProposeReplySeconds} {
			out = append(out, hsnap{h.Sum, h.Count})
		}
		return out
	}
	stages := func(a, z []hsnap) string {
		var sb strings.Builder
		for i := range a {
			if i == len(c.ids) {
				sb.WriteString("| q/commit/apply/reply")
			}
			n := z[i].n - a[i].n
			if n == 0 {
				n = 1
			}
			fmt.Fprintf(&sb, " %.2f", (z[i].sum-a[i].sum)/float64(n)*1e3)
			if i < len(c.ids) {
				fmt.Fprintf(&sb, "x%d", z[i].n-a[i].n)
			}
		}
		return sb.String()
	}
	// window writes at c=16 for 3 s and returns the sorted latencies of
	// the writes that succeeded and the number that failed (a leader
	// change on a loaded machine; the bench harness counts them too).
	window := func(base int64) ([]time.Duration, int64) {
		var mu sync.Mutex
		var lat []time.Duration
		var seq, failed atomic.Int64
		end := time.Now().Add(3 * time.Second)
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() { // ends at the window's end
				defer wg.Done()
				var mine []time.Duration
				for time.Now().Before(end) {
					t0 := time.Now()
					if err := db.Put(ctx, key(base, seq.Add(1)), val); err != nil {
						failed.Add(1)
						continue
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		slices.Sort(lat)
		return lat, failed.Load()
	}
	q := func(lat []time.Duration, f float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(f*float64(len(lat)-1))]) / 1e6
	}
	b.ResetTimer()
	var ratios []float64
	var bp99, dp99 float64
	for it := 0; it < b.N; it++ {
		m0 := grab()
		bl, bf := window(int64(2 + 2*it))
		m1 := grab()
		done := make(chan []time.Duration, 1)
		prof := os.Getenv("YGGR_SNAPIMPACT_PROF")
		if prof != "" && it == 0 {
			pf, err := os.Create(prof + ".cpu")
			if err != nil {
				b.Fatal(err)
			}
			tf, err := os.Create(prof + ".trace")
			if err != nil {
				b.Fatal(err)
			}
			pprof.StartCPUProfile(pf)
			trace.Start(tf)
			defer func() { pf.Close(); tf.Close() }()
		}
		go func() { // ends when every node's snapshot ends
			ds, err := snapAll()
			if err != nil {
				b.Error(err)
			}
			done <- ds
		}()
		dl, df := window(int64(3 + 2*it))
		m2 := grab()
		ds := <-done
		if prof != "" && it == 0 {
			trace.Stop()
			pprof.StopCPUProfile()
		}
		r := q(dl, 0.99) / q(bl, 0.99)
		ratios = append(ratios, r)
		bp99 += q(bl, 0.99)
		dp99 += q(dl, 0.99)
		// Printed, not logged: the testing package keeps only the first
		// lines of a benchmark's log.
		fmt.Fprintf(os.Stderr, "load1 %s round %d: baseline %d writes (%d failed) p50 %.2f p99 %.2f ms; during %d writes (%d failed) p50 %.2f p99 %.2f ms (%.2f×); snapshots %v\n",
			load1(), it, len(bl), bf, q(bl, 0.5), q(bl, 0.99), len(dl), df, q(dl, 0.5), q(dl, 0.99), r, ds)
		fmt.Fprintf(os.Stderr, "  mean fsync ms x count per node, then the first leader's mean propose stages in ms (zero once leadership moved): baseline %s; during %s\n", stages(m0, m1), stages(m1, m2))
	}
	b.ReportMetric(bp99/float64(b.N), "base-p99-ms")
	b.ReportMetric(dp99/float64(b.N), "during-p99-ms")
	b.ReportMetric(slices.Max(ratios), "max-p99-ratio")
	b.ReportMetric(0, "ns/op")
}

func load1() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
