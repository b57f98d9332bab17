package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Result is one row of the benchmark: one workload on one system.
type Result struct {
	System      string  `json:"system"`
	Workload    string  `json:"workload"`
	Concurrency int     `json:"concurrency,omitempty"`
	Ops         int64   `json:"ops,omitempty"`
	Errors      int64   `json:"errors,omitempty"`
	Seconds     float64 `json:"seconds,omitempty"`
	OpsPerSec   float64 `json:"ops_per_sec,omitempty"`
	P50Ms       float64 `json:"p50_ms,omitempty"`
	P99Ms       float64 `json:"p99_ms,omitempty"`
	// ValueMs is the measured time of a one-shot workload (failover, catch-up).
	ValueMs float64 `json:"value_ms,omitempty"`
	// MiB is a memory measurement (rss rows).
	HWMMiB float64 `json:"vmhwm_mib,omitempty"`
	RSSMiB float64 `json:"vmrss_mib,omitempty"`
	Load1  float64 `json:"load1"`
	Note   string  `json:"note,omitempty"`
	Err    string  `json:"error,omitempty"`
	// Round is the round (1-based) of a raw row; 0 in a median row.
	Round int `json:"round,omitempty"`
	// Rounds is how many rounds a median row summarises.
	Rounds int `json:"rounds,omitempty"`
	// FirstErr is the first failed operation's error in a load row.
	FirstErr string `json:"first_error,omitempty"`
	// CPUUsPerOp is the CPU time (user + system) of the harness process
	// that ran a load row, per successful operation, in µs: for the
	// embedded systems the three nodes and the load generator, for
	// yggr-serve* the load generator (client) alone.
	CPUUsPerOp float64 `json:"cpu_us_per_op,omitempty"`
	// ServerCPUUsPerOp is, for systems whose nodes are processes of their
	// own (yggr-serve*), the CPU time of the three server processes per
	// successful operation, in µs.
	ServerCPUUsPerOp float64 `json:"server_cpu_us_per_op,omitempty"`
	// LeaderCPUUsPerOp is the part of ServerCPUUsPerOp spent by the
	// process of the node that led when the row started.
	LeaderCPUUsPerOp float64 `json:"leader_cpu_us_per_op,omitempty"`
}

// key is the row identity used to pair systems for ratios.
func (r Result) key() string { return fmt.Sprintf("%s/%d", r.Workload, r.Concurrency) }

// errUnsupported marks a workload a system does not offer.
var errUnsupported = errors.New("bench: unsupported workload")

// latencyCap bounds the latency samples kept per worker.
const latencyCap = 1 << 20

// runLoad runs op from conc workers until dur has passed or maxOps operations
// were issued (maxOps <= 0: no count bound beyond the time bound). Each op gets
// a per-op timeout. Latencies of successful ops feed p50/p99.
func runLoad(ctx context.Context, conc int, dur time.Duration, maxOps int64, op func(ctx context.Context, i int64) error) Result {
	var next, errs atomic.Int64
	var firstErr atomic.Pointer[string]
	lats := make([][]time.Duration, conc)
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		// Owned by runLoad; ends at the deadline, after maxOps ops, or when ctx ends.
		go func() {
			defer wg.Done()
			buf := make([]time.Duration, 0, 1024)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := next.Add(1)
				if maxOps > 0 && i > maxOps {
					break
				}
				octx, cancel := context.WithTimeout(ctx, 10*time.Second)
				t0 := time.Now()
				err := op(octx, i)
				d := time.Since(t0)
				cancel()
				if err != nil {
					errs.Add(1)
					msg := err.Error()
					firstErr.CompareAndSwap(nil, &msg)
					time.Sleep(time.Millisecond) // back off; the loop is bounded by the deadline
					continue
				}
				if len(buf) < latencyCap {
					buf = append(buf, d)
				}
			}
			lats[w] = buf
		}()
	}
	wg.Wait()
	el := time.Since(start)
	all := slices.Concat(lats...)
	slices.Sort(all)
	r := Result{Concurrency: conc, Ops: int64(len(all)), Errors: errs.Load(), Seconds: el.Seconds()}
	r.OpsPerSec = float64(len(all)) / el.Seconds()
	r.P50Ms = pct(all, 0.50)
	r.P99Ms = pct(all, 0.99)
	if e := firstErr.Load(); e != nil {
		r.FirstErr = *e
	}
	return r
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i]) / float64(time.Millisecond)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// load1 returns the 1-minute load average, or 0.
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// key16 is a 16-byte key for index i.
func key16(i int64) []byte { return fmt.Appendf(nil, "k%015d", i) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

// aggregate turns raw per-round rows into one median row per system and
// workload (every metric is its own median; errors are summed). With one
// round the rows are returned unchanged.
func aggregate(rows []Result, rounds int) []Result {
	if rounds <= 1 {
		return rows
	}
	var order []string
	groups := map[string][]Result{}
	for _, r := range rows {
		k := r.System + "|" + r.key()
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []Result
	for _, k := range order {
		g := groups[k]
		m := Result{System: g[0].System, Workload: g[0].Workload, Concurrency: g[0].Concurrency, Note: g[0].Note}
		var ops, p50, p99, val, hwm, rss, load, secs, cpu, scpu, lcpu []float64
		var errs []string
		for _, r := range g {
			if r.Err != "" {
				errs = append(errs, r.Err)
				continue
			}
			m.Rounds++
			m.Ops += r.Ops
			m.Errors += r.Errors
			if m.FirstErr == "" {
				m.FirstErr = r.FirstErr
			}
			ops, p50, p99, val = append(ops, r.OpsPerSec), append(p50, r.P50Ms), append(p99, r.P99Ms), append(val, r.ValueMs)
			hwm, rss, load, secs = append(hwm, r.HWMMiB), append(rss, r.RSSMiB), append(load, r.Load1), append(secs, r.Seconds)
			cpu, scpu, lcpu = append(cpu, r.CPUUsPerOp), append(scpu, r.ServerCPUUsPerOp), append(lcpu, r.LeaderCPUUsPerOp)
		}
		m.OpsPerSec, m.P50Ms, m.P99Ms, m.ValueMs = median(ops), median(p50), median(p99), median(val)
		m.HWMMiB, m.RSSMiB, m.Load1, m.Seconds = median(hwm), median(rss), median(load), median(secs)
		m.CPUUsPerOp, m.ServerCPUUsPerOp, m.LeaderCPUUsPerOp = median(cpu), median(scpu), median(lcpu)
		if len(errs) > 0 {
			if m.Rounds == 0 {
				m.Err = errs[0]
			} else {
				m.Note = strings.TrimSpace(m.Note + fmt.Sprintf(" (%d of %d rounds failed: %s)", len(errs), len(g), errs[0]))
			}
		}
		out = append(out, m)
	}
	return out
}
