// Command bench runs yggr and its peers (hashicorp/raft with raft-boltdb/v2,
// and a minimal go.etcd.io/raft/v3 harness with a file WAL) as three-node
// clusters on loopback with durable storage in temp
// directories, measures the same workloads on each, measures the physical
// floor (fdatasync, TCP and QUIC round trips) in the same run, and prints a
// markdown table with yggr/peer ratios, optionally JSON lines (-json FILE).
//
//	cd bench && go run . -json results.jsonl
//
// Each system runs in its own child process (the program re-executes
// itself), so VmHWM is that system's peak: three nodes plus the load
// generator. The yggr-serve systems are three `yggr serve` processes
// (built once per run from ../cmd/yggr) started by that child, which
// drives them over HTTP: with the httpapi client (yggr-serve) or plain
// net/http (yggr-serve-http); their VmHWM is the servers' sum. The
// etcd-server system is three real etcd processes (the `etcd` binary,
// bench/scripts/install-etcd.sh installs it; skipped when missing) driven
// with etcd's Go client, clientv3. yggr-http is the embedded yggr cluster
// behind httpapi handlers on loopback, driven by the Go client in the same
// process: its CPU per operation against yggr's is the HTTP path's. The idle
// RSS of one yggr node is measured in another child that hosts one node
// of a three-node cluster whose other two nodes live in the parent.
//
// YGGR_BENCH_SERVER_ENV, a space-separated list of NAME=VALUE, is added to
// the environment of the server processes (yggr serve and etcd), for
// experiments such as GOMAXPROCS=1; the load generator keeps its own.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/yggrdb/yggr"
)

type config struct {
	duration       time.Duration
	concs          []int
	catchupEntries int
	catchupMax     time.Duration
	floorN         int
	// snapshotKeys is the state size of the snapshot workload; 0 skips it.
	snapshotKeys int
}

type flags struct {
	duration   time.Duration
	systems    string
	workloads  string
	quick      bool
	jsonOut    string
	cpuprofile string
	catchup    int
	snapKeys   int
	rounds     int
	childSys   string
	childOut   string
	childRoot  string
	yggrBin    string
	etcdBin    string
	idle       bool
	idleDir    string
	idleID     string
	idlePeers  string
	idleIndex  uint64
}

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.DurationVar(&f.duration, "duration", 5*time.Second, "duration of each throughput row")
	fs.StringVar(&f.systems, "systems", "yggr,hashicorp,etcd", "systems to run: yggr,hashicorp,etcd,yggr-serve,yggr-serve-http,etcd-server,yggr-http (embedded yggr behind httpapi: the HTTP path's cost)")
	fs.StringVar(&f.workloads, "workloads", "floor,write,read,write1k,catchup,failover,idle,snapshot",
		"workloads: floor,write,read,write1k,catchup,failover,idle,snapshot,watch (snapshot: yggr and hashicorp, not under -quick; watch: yggr only, not in the default set)")
	fs.BoolVar(&f.quick, "quick", false, "smoke test: 1s rows, concurrency 1 and 64, 2000 catch-up entries, 200 floor samples")
	fs.StringVar(&f.jsonOut, "json", "", "write JSON lines to this file")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "write a CPU profile per system to FILE.<system>")
	fs.IntVar(&f.rounds, "rounds", 1, "repeat floor and systems this many times (alternating system order); the table shows medians")
	fs.IntVar(&f.catchup, "catchup", 100000, "entries a stopped follower misses in the catch-up workload")
	fs.IntVar(&f.snapKeys, "snapshot-keys", 1000000, "keys loaded before the snapshot workload")
	fs.StringVar(&f.childSys, "child-system", "", "internal: run one system in this process")
	fs.StringVar(&f.childOut, "child-out", "", "internal: JSON lines output of -child-system")
	fs.StringVar(&f.childRoot, "child-root", "", "internal: data directory of -child-system (its parent removes it)")
	fs.StringVar(&f.yggrBin, "yggr-bin", "", "yggr binary for the yggr-serve systems (default: go build ../cmd/yggr once per run)")
	fs.StringVar(&f.etcdBin, "etcd-bin", "etcd", "etcd binary of the etcd-server system (a path, or a name looked up in PATH)")
	fs.BoolVar(&f.idle, "idle-node", false, "internal: host one idle yggr node and report its RSS")
	fs.StringVar(&f.idleDir, "idle-dir", "", "internal")
	fs.StringVar(&f.idleID, "idle-id", "", "internal")
	fs.StringVar(&f.idlePeers, "idle-peers", "", "internal")
	fs.Uint64Var(&f.idleIndex, "idle-index", 0, "internal")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	return f, nil
}

func (f flags) config() config {
	c := config{duration: f.duration, concs: []int{1, 16, 64, 256}, catchupEntries: f.catchup,
		catchupMax: 300 * time.Second, floorN: 2000, snapshotKeys: f.snapKeys}
	if f.quick {
		c.duration = min(c.duration, time.Second)
		c.concs = []int{1, 64}
		c.catchupEntries = min(c.catchupEntries, 2000)
		c.catchupMax = 30 * time.Second
		c.floorN = 200
		c.snapshotKeys = 0
	}
	return c
}

func set(s string) map[string]bool {
	m := map[string]bool{}
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			m[x] = true
		}
	}
	return m
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	f, err := parseFlags(os.Args[1:])
	if err != nil {
		os.Exit(2)
	}
	switch {
	case f.idle:
		err = idleChild(f)
	case f.childSys != "":
		err = child(f)
	default:
		err = orchestrate(f, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// child runs one system in this process and writes its rows to f.childOut.
func child(f flags) error {
	if f.cpuprofile != "" {
		name := f.cpuprofile + "." + f.childSys
		if f.workloads == "snapshot" {
			name += "-snapshot"
		}
		pf, err := os.Create(name)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	root := f.childRoot
	var err error
	if root == "" {
		if root, err = os.MkdirTemp("", "yggr-bench-"+f.childSys+"-"); err != nil {
			return err
		}
	}
	defer os.RemoveAll(root)
	ctx := context.Background()
	// A snapshot-only child gets its own cluster with automatic snapshots
	// off, so that the baseline has none (snapshotImpact takes them).
	snapOnly := f.workloads == "snapshot"
	var sys system
	switch f.childSys {
	case "yggr":
		if snapOnly {
			sys, err = startYggr(ctx, root, yggr.WithSnapshotEntries(1<<40))
		} else {
			sys, err = startYggr(ctx, root)
		}
	case sysYggrHTTP:
		sys, err = startYggrHTTP(ctx, root)
	case "hashicorp":
		var tweak func(*raft.Config)
		if snapOnly {
			tweak = func(c *raft.Config) { c.SnapshotThreshold, c.SnapshotInterval = 1<<40, 24*time.Hour }
		}
		sys, err = startHashicorp(ctx, root, tweak, snapOnly)
	case "etcd":
		sys, err = startEtcd(ctx, root)
	case sysServe, sysServeHTTP:
		if f.cpuprofile != "" {
			serveCPUProfile = f.cpuprofile + "." + f.childSys
		}
		sys, err = startServe(ctx, f.childSys, f.yggrBin, root)
	case sysEtcdServer:
		sys, err = startEtcdServer(ctx, f.etcdBin, root)
	default:
		return fmt.Errorf("bench: unknown system %q", f.childSys)
	}
	if err != nil {
		return fmt.Errorf("bench: start %s: %w", f.childSys, err)
	}
	rows := runSystem(ctx, f.childSys, sys, f.config(), set(f.workloads))
	if !snapOnly {
		hwm, rss := procMem()
		r := Result{System: f.childSys, Workload: "process-rss", HWMMiB: hwm, RSSMiB: rss, Load1: load1(),
			Note: "whole process: three nodes + load generator; VmHWM is the peak over all workloads"}
		if sp, ok := sys.(serverProcs); ok {
			r.HWMMiB, r.RSSMiB = sp.ServerMem()
			r.Note = fmt.Sprintf("sum of the three server processes (VmHWM: each node's peak over all workloads, a restarted node counting its larger one; VmRSS: the running ones); "+
				"the load generator's own process: VmHWM %.0f MiB, VmRSS %.0f MiB", hwm, rss)
		}
		rows = append(rows, r)
	}
	if err := sys.Close(); err != nil {
		slog.Warn("bench: close", "system", f.childSys, "err", err)
	}
	out, err := os.Create(f.childOut)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			out.Close()
			return err
		}
	}
	return out.Close()
}

// orchestrate runs the floor, then each system in a child process, and
// prints the table.
func orchestrate(f flags, w *os.File) error {
	cfg := f.config()
	want := set(f.workloads)
	var rows []Result
	start := time.Now()
	slog.Info("bench: start", "load1", load1(), "nproc", runtime.NumCPU(), "duration", cfg.duration)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "yggr-bench-out-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	systems := slices.Collect(func(yield func(string) bool) {
		for _, s := range strings.Split(f.systems, ",") {
			if s = strings.TrimSpace(s); s != "" && !yield(s) {
				return
			}
		}
	})
	if slices.Contains(systems, sysEtcdServer) {
		if _, err := etcdBinary(f.etcdBin); err != nil {
			fmt.Fprintf(w, "%s skipped: %v\n\n", sysEtcdServer, err)
			slog.Warn("bench: skipping a system", "system", sysEtcdServer, "err", err)
			systems = slices.DeleteFunc(systems, func(s string) bool { return s == sysEtcdServer })
		}
	}
	if f.yggrBin == "" && slices.ContainsFunc(systems, func(s string) bool { return s == sysServe || s == sysServeHTTP }) {
		t0 := time.Now()
		if f.yggrBin, err = buildServe(tmp); err != nil {
			return err
		}
		slog.Info("bench: built yggr", "bin", f.yggrBin, "took", time.Since(t0).Round(time.Millisecond))
	}
	rounds := max(1, f.rounds)
	for round := range rounds {
		var rrows []Result
		if want["floor"] {
			dir, err := os.MkdirTemp("", "yggr-bench-floor-")
			if err != nil {
				return err
			}
			rrows = append(rrows, floorFsync(dir, cfg.floorN), floorFsyncShared(dir, cfg.floorN), floorTCP(cfg.floorN), floorQUIC(cfg.floorN))
			os.RemoveAll(dir)
		}
		// Odd rounds run the systems in reverse order so that a drifting
		// machine load does not always favour the same system.
		order := slices.Clone(systems)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		others := strings.Join(slices.DeleteFunc(strings.Split(f.workloads, ","), func(w string) bool { return w == "snapshot" }), ",")
		for _, s := range order {
			if others != "" {
				rrows = append(rrows, runChild(f, cfg, exe, tmp, s, others)...)
			}
		}
		// The snapshot workload runs in its own child per system (its own
		// cluster of 1M keys, not counted in process-rss).
		if want["snapshot"] && cfg.snapshotKeys > 0 {
			for _, s := range order {
				if s == "yggr" || s == "hashicorp" {
					rrows = append(rrows, runChild(f, cfg, exe, tmp, s, "snapshot")...)
				}
			}
		}
		for i := range rrows {
			rrows[i].Round = round + 1
		}
		rows = append(rows, rrows...)
	}
	if want["idle"] && slices.Contains(systems, "yggr") {
		rows = append(rows, idleRSS(exe))
	}
	raw := rows
	rows = aggregate(rows, rounds)
	fmt.Fprintf(w, "bench: %s, %d CPUs, load1 at end %.2f, took %s, %d round(s) (cells are medians over rounds)\n\n", runtime.Version(), runtime.NumCPU(), load1(), time.Since(start).Round(time.Second), rounds)
	rows = addRatios(rows, systems)
	writeTable(w, rows, systems)
	if f.jsonOut != "" {
		jf, err := os.Create(f.jsonOut)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(jf)
		for _, r := range append(raw, rows...) {
			if err := enc.Encode(r); err != nil {
				jf.Close()
				return err
			}
		}
		for _, r := range ratioRows {
			if err := enc.Encode(r); err != nil {
				jf.Close()
				return err
			}
		}
		return jf.Close()
	}
	return nil
}

// runChild runs system s in a child process and returns its rows.
func runChild(f flags, cfg config, exe, tmp, s, workloads string) []Result {
	out := filepath.Join(tmp, s+".jsonl")
	os.Remove(out)
	// The child's data directory is made and removed here, so that it goes
	// even if the child is killed.
	root, err := os.MkdirTemp("", "yggr-bench-"+s+"-")
	if err != nil {
		return []Result{{System: s, Workload: "run", Err: err.Error()}}
	}
	defer os.RemoveAll(root)
	// Bounded: every workload is bounded; the whole child gets a generous cap.
	limit := 20*cfg.duration + 2*cfg.catchupMax + 5*time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	args := []string{"-child-system", s, "-child-out", out, "-child-root", root, "-yggr-bin", f.yggrBin, "-etcd-bin", f.etcdBin, "-duration", cfg.duration.String(),
		"-workloads", workloads, "-catchup", strconv.Itoa(cfg.catchupEntries), "-snapshot-keys", strconv.Itoa(cfg.snapshotKeys),
		"-cpuprofile", f.cpuprofile}
	if f.quick {
		args = append(args, "-quick")
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	slog.Info("bench: system", "name", s, "load1", load1())
	err = cmd.Run()
	rs, rerr := readRows(out)
	if err != nil || rerr != nil {
		rs = append(rs, Result{System: s, Workload: "run", Err: fmt.Sprintf("child: %v; rows: %v", err, rerr)})
	}
	return rs
}

// readRows reads a child's JSON lines.
func readRows(path string) ([]Result, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var out []Result
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, sc.Err()
}
