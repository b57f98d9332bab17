package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/yggrdb/yggr"
)

// Ratio is yggr's value over a peer's value for one row.
type Ratio struct {
	// Throughput is yggr ops/s over the peer's ops/s (above 1: yggr faster).
	Throughput float64 `json:"throughput,omitempty"`
	// P50, P99, Value, HWM: yggr over peer (below 1: yggr better).
	P50   float64 `json:"p50,omitempty"`
	P99   float64 `json:"p99,omitempty"`
	Value float64 `json:"value,omitempty"`
	HWM   float64 `json:"vmhwm,omitempty"`
}

// RatioRow is a JSON line pairing a yggr row with a peer's row.
type RatioRow struct {
	Workload    string `json:"workload"`
	Concurrency int    `json:"concurrency,omitempty"`
	// Base is the yggr system of the ratio (yggr, or a yggr-serve variant
	// against a server peer).
	Base string `json:"base"`
	Peer string `json:"peer"`
	Ratio
}

// systemKind says how a system's nodes run: "embedded" (three nodes in
// the harness's child process: yggr, hashicorp, etcd) or "server" (three
// server processes driven over their client protocol: yggr-serve,
// yggr-serve-http, etcd-server). Ratios compare systems of one kind only.
func systemKind(s string) string {
	if s == sysServe || s == sysServeHTTP || s == sysEtcdServer {
		return "server"
	}
	return "embedded"
}

// isYggr reports whether s is yggr in some form (the numerator of ratios).
func isYggr(s string) bool { return s == "yggr" || strings.HasPrefix(s, "yggr-") }

// ratioPairs returns the (yggr system, peer) pairs of the ratio columns:
// every yggr system against every peer of its kind, in the order given.
func ratioPairs(systems []string) [][2]string {
	var out [][2]string
	for _, y := range systems {
		if !isYggr(y) {
			continue
		}
		for _, p := range systems {
			if !isYggr(p) && systemKind(p) == systemKind(y) {
				out = append(out, [2]string{y, p})
			}
		}
	}
	return out
}

func div(a, b float64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return a / b
}

func ratio(y, p Result) Ratio {
	return Ratio{Throughput: div(y.OpsPerSec, p.OpsPerSec), P50: div(y.P50Ms, p.P50Ms), P99: div(y.P99Ms, p.P99Ms),
		Value: div(y.ValueMs, p.ValueMs), HWM: div(y.HWMMiB, p.HWMMiB)}
}

// ratioRows are kept in a package variable for the JSON output.
var ratioRows []RatioRow

// addRatios computes yggr/peer ratios (see ratioPairs) for every row both
// systems have.
func addRatios(rows []Result, systems []string) []Result {
	ratioRows = nil
	by := map[string]map[string]Result{}
	for _, r := range rows {
		if by[r.System] == nil {
			by[r.System] = map[string]Result{}
		}
		by[r.System][r.key()] = r
	}
	pairs := ratioPairs(systems)
	for _, r := range rows {
		for _, pair := range pairs {
			if r.System != pair[0] {
				continue
			}
			if p, ok := by[pair[1]][r.key()]; ok {
				ratioRows = append(ratioRows, RatioRow{Workload: r.Workload, Concurrency: r.Concurrency, Base: pair[0], Peer: pair[1], Ratio: ratio(r, p)})
			}
		}
	}
	return rows
}

func cell(r Result) string {
	switch {
	case r.Err != "":
		return "error: " + r.Err
	case r.HWMMiB > 0 || r.RSSMiB > 0:
		return fmt.Sprintf("VmHWM %.0f MiB, VmRSS %.0f MiB", r.HWMMiB, r.RSSMiB)
	case r.OpsPerSec > 0:
		s := fmt.Sprintf("%.0f/s, p50 %s ms, p99 %s ms", r.OpsPerSec, fmtMs(r.P50Ms), fmtMs(r.P99Ms))
		switch {
		case r.ServerCPUUsPerOp > 0 && r.LeaderCPUUsPerOp > 0:
			s += fmt.Sprintf(", cpu %.0f µs/op server (leader %.0f) + %.0f client", r.ServerCPUUsPerOp, r.LeaderCPUUsPerOp, r.CPUUsPerOp)
		case r.ServerCPUUsPerOp > 0:
			s += fmt.Sprintf(", cpu %.0f µs/op server + %.0f client", r.ServerCPUUsPerOp, r.CPUUsPerOp)
		case r.CPUUsPerOp > 0:
			s += fmt.Sprintf(", cpu %.0f µs/op", r.CPUUsPerOp)
		}
		if r.Errors > 0 {
			s += fmt.Sprintf(" (%d errors)", r.Errors)
		}
		return s
	case r.ValueMs > 0:
		return fmt.Sprintf("%.0f ms", r.ValueMs)
	case r.P50Ms > 0:
		return fmt.Sprintf("p50 %.3f ms, p99 %.3f ms", r.P50Ms, r.P99Ms)
	}
	return "-"
}

// fmtMs keeps three significant digits below 1 ms.
func fmtMs(v float64) string {
	if v < 1 {
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func ratioCell(x Ratio) string {
	var parts []string
	if x.Throughput > 0 {
		parts = append(parts, fmt.Sprintf("%.2f× ops/s", x.Throughput))
	}
	if x.P50 > 0 {
		parts = append(parts, fmt.Sprintf("%.2f× p50", x.P50))
	}
	if x.Value > 0 {
		parts = append(parts, fmt.Sprintf("%.2f× time", x.Value))
	}
	if x.HWM > 0 {
		parts = append(parts, fmt.Sprintf("%.2f× VmHWM", x.HWM))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// writeTable prints markdown tables: floor, then systems side by side with
// ratios.
func writeTable(w io.Writer, rows []Result, systems []string) {
	var keys []string
	by := map[string]map[string]Result{}
	load := map[string]float64{}
	for _, r := range rows {
		if r.System == "floor" || r.Workload == "idle-node-rss" {
			continue
		}
		k := r.key()
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
		if by[k] == nil {
			by[k] = map[string]Result{}
		}
		by[k][r.System] = r
		load[k+"/"+r.System] = r.Load1
	}
	fmt.Fprintf(w, "| workload | conc |")
	for _, s := range systems {
		fmt.Fprintf(w, " %s |", s)
	}
	pairs := ratioPairs(systems)
	for _, p := range pairs {
		fmt.Fprintf(w, " %s/%s |", p[0], p[1])
	}
	fmt.Fprintf(w, " load1 |\n|---|---|%s\n", strings.Repeat("---|", len(systems)+len(pairs)+1))
	for _, k := range keys {
		m := by[k]
		var any Result
		for _, r := range m {
			any = r
		}
		conc := "-"
		if any.Concurrency > 0 {
			conc = fmt.Sprint(any.Concurrency)
		}
		fmt.Fprintf(w, "| %s | %s |", any.Workload, conc)
		var loads []string
		for _, s := range systems {
			r, ok := m[s]
			if !ok {
				fmt.Fprintf(w, " - |")
				continue
			}
			fmt.Fprintf(w, " %s |", cell(r))
			loads = append(loads, fmt.Sprintf("%.1f", r.Load1))
		}
		for _, p := range pairs {
			y, ok1 := m[p[0]]
			pr, ok2 := m[p[1]]
			if !ok1 || !ok2 || y.Err != "" || pr.Err != "" {
				fmt.Fprintf(w, " - |")
				continue
			}
			fmt.Fprintf(w, " %s |", ratioCell(ratio(y, pr)))
		}
		fmt.Fprintf(w, " %s |\n", strings.Join(loads, "/"))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "cpu: CPU time (user + system) per successful operation. Embedded systems: the child process (three nodes + load generator). "+
		"yggr-serve*: the three `yggr serve` processes (server) and the load generator's process (client); "+
		"their process-rss is the servers' sum; \"(leader N)\": the part of the servers' CPU spent by the leader's process. "+
		"yggr-http: the embedded nodes behind httpapi handlers, driven by the Go client, in one process (the HTTP path's cost against yggr). "+
		"\"-\": not measured for that system.")
	fmt.Fprintln(w)
	for _, r := range rows {
		if r.Workload == "idle-node-rss" {
			fmt.Fprintf(w, "Idle yggr node (own process, one of three nodes): %s. %s\n\n", cell(r), r.Note)
		}
	}
	if slices.ContainsFunc(rows, func(r Result) bool { return r.System == "floor" }) {
		fmt.Fprintln(w, "| floor | samples | latency | load1 |\n|---|---|---|---|")
		for _, r := range rows {
			if r.System == "floor" {
				fmt.Fprintf(w, "| %s | %d | %s | %.1f |\n", r.Workload, r.Ops, cell(r), r.Load1)
			}
		}
	}
	for _, r := range rows {
		if r.FirstErr != "" {
			fmt.Fprintf(w, "\n- %s %s c=%d: %d errors, first: %s", r.System, r.Workload, r.Concurrency, r.Errors, r.FirstErr)
		}
	}
	for _, r := range rows {
		if r.Note != "" && r.System != "floor" && r.Workload != "idle-node-rss" {
			fmt.Fprintf(w, "\n- %s %s: %s", r.System, r.Workload, r.Note)
		}
	}
	fmt.Fprintln(w)
}

// idleRSS hosts two yggr nodes here and one in a child process, writes
// 1000 entries, and asks the child for its RSS after it caught up and
// idled.
func idleRSS(exe string) Result {
	r := Result{System: "yggr", Workload: "idle-node-rss", Load1: load1()}
	fail := func(err error) Result { r.Err = err.Error(); return r }
	root, err := os.MkdirTemp("", "yggr-bench-idle-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(root)
	addrs, err := freeUDPPorts(3)
	if err != nil {
		return fail(err)
	}
	s := &yggrSys{}
	for i := range 3 {
		s.ids[i] = fmt.Sprintf("n%d", i+1)
		s.dirs[i] = filepath.Join(root, s.ids[i])
		s.peers = append(s.peers, s.ids[i]+"="+addrs[i])
	}
	defer s.Close()
	for i := range 2 {
		if err := s.open(i); err != nil {
			return fail(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	val := make([]byte, 128)
	for i := range int64(1000) {
		if err := s.Put(ctx, key16(i), val); err != nil {
			return fail(err)
		}
	}
	l, err := s.leader(ctx)
	if err != nil {
		return fail(err)
	}
	index := s.dbs[l].Status().Commit
	cmd := exec.CommandContext(ctx, exe, "-idle-node", "-idle-dir", s.dirs[2], "-idle-id", s.ids[2],
		"-idle-peers", strings.Join(s.peers, ","), "-idle-index", fmt.Sprint(index))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fail(fmt.Errorf("idle child: %w", err))
	}
	var cr Result
	if err := json.Unmarshal(out, &cr); err != nil {
		return fail(err)
	}
	cr.Load1 = r.Load1
	return cr
}

// idleChild opens one node, waits until it applied f.idleIndex, idles 3 s
// and prints its memory as one JSON Result on stdout.
func idleChild(f flags) error {
	db, err := yggr.Open(f.idleDir, strings.Split(f.idlePeers, ","), yggr.WithID(f.idleID), yggr.WithInsecure(), yggr.WithLeaseReads())
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for db.Status().Applied < f.idleIndex {
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: idle node applied %d < %d after 60s", db.Status().Applied, f.idleIndex)
		}
		time.Sleep(time.Millisecond) // poll, bounded by the deadline
	}
	time.Sleep(3 * time.Second) // the idle period being measured
	hwm, rss := procMem()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r := Result{System: "yggr", Workload: "idle-node-rss", HWMMiB: hwm, RSSMiB: rss,
		Note: fmt.Sprintf("after applying %d entries (1000 × 128 B) and 3 s idle; Go heap in use %.1f MiB, runtime Sys %.1f MiB",
			f.idleIndex, float64(ms.HeapInuse)/(1<<20), float64(ms.Sys)/(1<<20))}
	return json.NewEncoder(os.Stdout).Encode(r)
}
