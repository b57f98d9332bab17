package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
)

// benchCmd measures throughput and latency against a running cluster.
type benchCmd struct {
	clientFlags   `embed:""`
	Concurrency   int           `help:"Concurrent clients." default:"16"`
	ValueSize     int           `name:"value-size" help:"Bytes per value." default:"128"`
	Duration      time.Duration `help:"How long to run." default:"10s"`
	MaxOps        int           `name:"max-ops" help:"Stop after this many operations." default:"1000000"`
	ReadRatio     float64       `name:"read-ratio" help:"Fraction of operations that are reads (0 to 1)." default:"0.5"`
	Keys          int           `help:"Number of distinct keys (written once before the run when there are reads)." default:"1000"`
	Consistency   string        `help:"Read consistency: linearizable, lease or stale." enum:"linearizable,lease,stale" default:"linearizable"`
	Inflight      int           `help:"Get requests the client keeps in flight before it batches further gets into POST /v1/batch, as the Go client does (httpapi.ClientOptions.Inflight); --inflight=-1: one request per call." default:"4"`
	WriteInflight int           `name:"write-inflight" help:"Put requests the client keeps in flight before it batches further puts (httpapi.ClientOptions.WriteInflight)." default:"1"`
}

// Help is the detailed help with examples.
func (c *benchCmd) Help() string {
	return `Runs --concurrency clients that each make one call at a time (a get with
probability --read-ratio, else a put of --value-size bytes to one of --keys
keys) until --duration passes or --max-ops operations are done. The calls share
one Go client, which batches them as an application's would (--inflight). Prints the
throughput and latency percentiles per operation kind and a latency histogram.
--timeout bounds each request. Errors are counted, not retried. It writes the
keys bench/00000000 up to bench/NNNNNNNN (--keys of them) in the cluster and
leaves them there: run it on a cluster whose "bench/" keys are yours to change.

Examples:
  yggr bench
  yggr bench --concurrency 64 --duration 30s --read-ratio 0.9
  yggr bench --read-ratio 0 --value-size 1024 --addr 127.0.0.1:7070,127.0.0.1:7080`
}

// benchStats summarizes one kind of operation.
type benchStats struct {
	Ops       int     `json:"ops"`
	Errors    int     `json:"errors"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50ms     float64 `json:"p50_ms"`
	P90ms     float64 `json:"p90_ms"`
	P99ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
}

// benchOutput is bench's JSON output.
type benchOutput struct {
	Seconds float64    `json:"seconds"`
	All     benchStats `json:"all"`
	Writes  benchStats `json:"writes"`
	Reads   benchStats `json:"reads"`
	// Histogram counts operations by latency: Counts[i] took at most
	// BoundsMs[i] (and more than BoundsMs[i-1]).
	BoundsMs []float64 `json:"bounds_ms"`
	Counts   []int     `json:"counts"`
	FirstErr string    `json:"first_error,omitempty"`
}

// benchWorker is one client's record.
type benchWorker struct {
	writes, reads       []time.Duration
	writeErrs, readErrs int
	firstErr            error
}

// Run runs the benchmark.
func (c *benchCmd) Run(e *env) error {
	cons, err := parseConsistency(c.Consistency)
	if err != nil {
		return err
	}
	switch {
	case c.Concurrency < 1:
		return usagef("--concurrency must be ≥ 1")
	case c.ValueSize < 0:
		return usagef("--value-size must be ≥ 0")
	case c.Duration <= 0:
		return usagef("--duration must be > 0")
	case c.MaxOps < 1:
		return usagef("--max-ops must be ≥ 1")
	case c.ReadRatio < 0 || c.ReadRatio > 1:
		return usagef("--read-ratio must be between 0 and 1")
	case c.Keys < 1:
		return usagef("--keys must be ≥ 1")
	case c.Inflight < -1 || c.Inflight == 0:
		return usagef("--inflight must be ≥ 1, or -1 for one request per call")
	case c.WriteInflight < 1:
		return usagef("--write-inflight must be ≥ 1")
	}
	c.inflight, c.writeInflight = c.Inflight, c.WriteInflight
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	value := []byte(strings.Repeat("v", c.ValueSize))
	key := func(i int) []byte { return fmt.Appendf(nil, "bench/%08d", i) }
	if c.ReadRatio > 0 {
		if err := c.populate(e.ctx, cl, key, value); err != nil {
			return err
		}
	}
	batching := fmt.Sprintf("calls beyond %d get and %d put requests in flight batched", c.Inflight, c.WriteInflight)
	if c.Inflight < 0 {
		batching = "one request per call"
	}
	fmt.Fprintf(e.stderr, "bench: %d clients, %v, %d-byte values, %.0f%% reads (%s), %d keys, %s\n",
		c.Concurrency, c.Duration, c.ValueSize, c.ReadRatio*100, c.Consistency, c.Keys, batching)
	fmt.Fprintf(e.stderr, "bench: writes keys %s to %s on %s and leaves them there (yggr scan --prefix bench/ --keys-only lists them)\n",
		key(0), key(c.Keys-1), c.Addr)

	ctx, cancel := context.WithTimeout(e.ctx, c.Duration)
	defer cancel()
	var budget atomic.Int64
	budget.Store(int64(c.MaxOps))
	workers := make([]benchWorker, c.Concurrency)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		// Owned by Run, which waits; ends when ctx ends (--duration) or the
		// --max-ops budget is spent.
		go func() {
			defer wg.Done()
			bw := &workers[w]
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for ctx.Err() == nil && budget.Add(-1) >= 0 {
				k := key(rng.IntN(c.Keys))
				t0 := time.Now()
				if rng.Float64() < c.ReadRatio {
					_, _, err := cl.Get(ctx, k, yggr.WithConsistency(cons))
					d := time.Since(t0)
					if ctx.Err() != nil {
						return // cut off by the end of the run: not a measurement
					}
					if err != nil && !errors.Is(err, yggr.ErrNotFound) {
						bw.readErrs++
						bw.firstErr = cmpOr(bw.firstErr, err)
						continue
					}
					bw.reads = append(bw.reads, d)
				} else {
					_, err := cl.Put(ctx, k, value)
					d := time.Since(t0)
					if ctx.Err() != nil {
						return
					}
					if err != nil {
						bw.writeErrs++
						bw.firstErr = cmpOr(bw.firstErr, err)
						continue
					}
					bw.writes = append(bw.writes, d)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	out := summarize(workers, elapsed)
	if c.json() {
		return writeJSON(e.stdout, out)
	}
	printBench(e.stdout, out)
	if out.All.Ops == 0 && out.FirstErr != "" {
		var first error
		for _, w := range workers {
			first = cmpOr(first, w.firstErr)
		}
		// %w: the exit code says why (4 when no endpoint answered).
		return fmt.Errorf("bench: every operation failed; first error: %w", first)
	}
	return nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// populate writes every key once so that reads find values.
func (c *benchCmd) populate(ctx context.Context, cl *httpapi.Client, key func(int) []byte, value []byte) error {
	ctx, cancel := context.WithTimeout(ctx, max(c.Timeout, time.Minute))
	defer cancel()
	var next atomic.Int64
	errs := make([]error, c.Concurrency)
	var wg sync.WaitGroup
	for w := range c.Concurrency {
		wg.Add(1)
		// Owned by populate, which waits; ends when every key is written or
		// a write fails.
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < c.Keys; i = int(next.Add(1) - 1) {
				if _, err := cl.Put(ctx, key(i), value); err != nil {
					errs[w] = fmt.Errorf("bench: writing the keys before the run: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err // the first is enough: the others say the same
		}
	}
	return nil
}

// benchBoundsMs are the histogram's upper bounds (the last is +Inf).
var benchBoundsMs = []float64{0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, -1}

func summarize(workers []benchWorker, elapsed time.Duration) benchOutput {
	var writes, reads []time.Duration
	var werrs, rerrs int
	var first error
	for _, w := range workers {
		writes = append(writes, w.writes...)
		reads = append(reads, w.reads...)
		werrs += w.writeErrs
		rerrs += w.readErrs
		first = cmpOr(first, w.firstErr)
	}
	all := append(slices.Clone(writes), reads...)
	out := benchOutput{
		Seconds: elapsed.Seconds(),
		All:     stats(all, werrs+rerrs, elapsed),
		Writes:  stats(writes, werrs, elapsed),
		Reads:   stats(reads, rerrs, elapsed),
		Counts:  make([]int, len(benchBoundsMs)),
	}
	if first != nil {
		out.FirstErr = first.Error()
	}
	out.BoundsMs = benchBoundsMs
	for _, d := range all {
		ms := float64(d) / float64(time.Millisecond)
		i := slices.IndexFunc(benchBoundsMs, func(b float64) bool { return b < 0 || ms <= b })
		out.Counts[i]++
	}
	return out
}

func stats(ds []time.Duration, errs int, elapsed time.Duration) benchStats {
	slices.Sort(ds)
	s := benchStats{Ops: len(ds), Errors: errs, OpsPerSec: float64(len(ds)) / elapsed.Seconds()}
	if len(ds) == 0 {
		return s
	}
	q := func(p float64) float64 {
		i := min(len(ds)-1, int(p*float64(len(ds))))
		return float64(ds[i]) / float64(time.Millisecond)
	}
	s.P50ms, s.P90ms, s.P99ms = q(0.50), q(0.90), q(0.99)
	s.MaxMs = float64(ds[len(ds)-1]) / float64(time.Millisecond)
	return s
}

func printBench(w io.Writer, out benchOutput) {
	line := func(name string, s benchStats) {
		fmt.Fprintf(w, "%-7s %8d ops  %9.1f ops/s  errors %d  p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms\n",
			name, s.Ops, s.OpsPerSec, s.Errors, s.P50ms, s.P90ms, s.P99ms, s.MaxMs)
	}
	fmt.Fprintf(w, "duration %.1fs\n", out.Seconds)
	line("all", out.All)
	line("writes", out.Writes)
	line("reads", out.Reads)
	if out.FirstErr != "" {
		fmt.Fprintf(w, "first error: %s\n", out.FirstErr)
	}
	fmt.Fprintln(w, "latency histogram (all operations):")
	peak := slices.Max(out.Counts)
	for i, n := range out.Counts {
		if n == 0 {
			continue
		}
		lo := 0.0
		if i > 0 {
			lo = out.BoundsMs[i-1]
		}
		label := fmt.Sprintf("%g–%gms", lo, out.BoundsMs[i])
		if out.BoundsMs[i] < 0 {
			label = fmt.Sprintf("> %gms", lo)
		}
		bar := strings.Repeat("#", max(1, n*40/max(1, peak)))
		fmt.Fprintf(w, "  %-14s %8d %s\n", label, n, bar)
	}
}
