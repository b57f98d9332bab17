//go:build linux

// The footprint tests read /proc.

package log

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
)

// Footprint measurements, run on demand:
//
//	YGGR_LOG_FOOTPRINT=1 go test -run 'Footprint|IdleRSS' -v ./log/

func footprintEnabled(t *testing.T) {
	if os.Getenv("YGGR_LOG_FOOTPRINT") != "1" {
		t.Skip("set YGGR_LOG_FOOTPRINT=1 to measure")
	}
}

// dirSize returns the apparent size (sum of file lengths) and the allocated
// size (blocks) of the files under dir.
func dirSize(t *testing.T, dir string) (apparent, allocated int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		apparent += fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			allocated += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return apparent, allocated
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// TestFootprintDisk writes 1M entries of 128 bytes, then snapshots, compacts
// and runs GC, and logs the size on disk at each step.
func TestFootprintDisk(t *testing.T) {
	footprintEnabled(t)
	dir := t.TempDir()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const total, batch = 1_000_000, 1000
	data := make([]byte, 128)
	es := make([]engine.Entry, batch)
	start := time.Now()
	for next := uint64(1); next <= total; {
		for i := range es {
			es[i] = engine.Entry{Term: 1, Index: next, Data: data}
			next++
		}
		if err := s.Write(Batch{Entries: es}); err != nil {
			t.Fatal(err)
		}
	}
	a, b := dirSize(t, dir)
	t.Logf("after %d entries of 128 B (%s of data) in %v: apparent %s, allocated %s", total, mib(total*128), time.Since(start).Round(time.Millisecond), mib(a), mib(b))
	if err := s.SetSnapshot(engine.SnapshotMeta{Index: total, Term: 1}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := s.Compact(total); err != nil {
		t.Fatal(err)
	}
	n := s.runGC()
	a, b = dirSize(t, dir)
	t.Logf("after Compact (%v) + value-log GC (%d files rewritten): apparent %s, allocated %s", time.Since(start).Round(time.Millisecond), n, mib(a), mib(b))
	// Badger reclaims LSM space by compaction; force it to see the floor.
	if err := s.db.Flatten(2); err != nil {
		t.Fatal(err)
	}
	a, b = dirSize(t, dir)
	t.Logf("after Flatten: apparent %s, allocated %s", mib(a), mib(b))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	a, b = dirSize(t, dir)
	t.Logf("after Close: apparent %s, allocated %s", mib(a), mib(b))
}

// TestIdleRSS starts a child that opens a store, writes a little, and
// reports its resident set size before opening and when idle.
func TestIdleRSS(t *testing.T) {
	footprintEnabled(t)
	for _, entries := range []int{0, 10000} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRSSHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), rssHelperEnv+"="+t.TempDir(), fmt.Sprintf("YGGR_LOG_RSS_ENTRIES=%d", entries))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("helper: %v\n%s", err, out)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "RSS ") {
				t.Logf("%d entries written: %s", entries, sc.Text())
			}
		}
	}
}

func TestRSSHelper(t *testing.T) {
	dir := os.Getenv(rssHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestIdleRSS")
	}
	settle := func() int64 {
		runtime.GC()
		debug.FreeOSMemory()
		return vmRSS(t)
	}
	before := settle()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(os.Getenv("YGGR_LOG_RSS_ENTRIES"))
	data := make([]byte, 128)
	for next := uint64(1); next <= uint64(n); {
		es := make([]engine.Entry, 0, 100)
		for range 100 {
			es = append(es, engine.Entry{Term: 1, Index: next, Data: data})
			next++
		}
		if err := s.Write(Batch{Entries: es}); err != nil {
			t.Fatal(err)
		}
	}
	opened := settle()
	time.Sleep(2 * time.Second) // idle on purpose: Badger's background goroutines run
	idle := settle()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("RSS before open %s, after open+writes %s, idle 2s later %s (Go heap in use %s)\n",
		mib(before), mib(opened), mib(idle), mib(int64(ms.HeapInuse)))
	s.Close()
}

func vmRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestFootprintSteady writes 1M entries of 128 bytes like a running node:
// a snapshot and Compact every 10k entries, keeping the last 10k. It logs
// the size on disk along the way.
func TestFootprintSteady(t *testing.T) {
	footprintEnabled(t)
	dir := t.TempDir()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const total, batch, band = 1_000_000, 1000, 10_000
	data := make([]byte, 128)
	es := make([]engine.Entry, batch)
	start := time.Now()
	for next := uint64(1); next <= total; {
		for i := range es {
			es[i] = engine.Entry{Term: 1, Index: next, Data: data}
			next++
		}
		if err := s.Write(Batch{Entries: es}); err != nil {
			t.Fatal(err)
		}
		if last := next - 1; last%band == 0 && last > band {
			if err := s.SetSnapshot(engine.SnapshotMeta{Index: last - band, Term: 1}); err != nil {
				t.Fatal(err)
			}
			if err := s.Compact(last - band); err != nil {
				t.Fatal(err)
			}
		}
		if last := next - 1; last%(total/4) == 0 {
			a, b := dirSize(t, dir)
			t.Logf("at %d entries (%v): apparent %s, allocated %s", last, time.Since(start).Round(time.Millisecond), mib(a), mib(b))
		}
	}
}

// TestFootprintNodeLoad writes the log of issue 15's workload (1M keys as
// 10k transactions of 100 puts: 10k entries of about 15 KB) like a running
// node: a snapshot and Compact whenever the log above the snapshot passes
// 64 MiB (the engine's MaxLogBytes), keeping 1000 entries below it. It
// logs the resident memory of the value log's mappings and the size on
// disk. YGGR_LOG_FOOTPRINT_ENTRIES sets another number of entries.
func TestFootprintNodeLoad(t *testing.T) {
	footprintEnabled(t)
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const entryBytes, maxLog, keep = 15_000, 64 << 20, 1000
	total := uint64(10_000) // YGGR_LOG_FOOTPRINT_ENTRIES overrides
	if n, err := strconv.ParseUint(os.Getenv("YGGR_LOG_FOOTPRINT_ENTRIES"), 10, 64); err == nil && n > 0 {
		total = n
	}
	data := make([]byte, entryBytes)
	var peak int64
	start := time.Now()
	snap := uint64(0)
	for next := uint64(1); next <= total; next++ {
		if err := s.Write(Batch{Entries: []engine.Entry{{Term: 1, Index: next, Data: data}}}); err != nil {
			t.Fatal(err)
		}
		if (next-snap)*entryBytes > maxLog {
			snap = next
			if err := s.SetSnapshot(engine.SnapshotMeta{Index: snap, Term: 1}); err != nil {
				t.Fatal(err)
			}
			if err := s.Compact(snap - keep); err != nil {
				t.Fatal(err)
			}
		}
		if next%500 == 0 {
			peak = max(peak, mappedRSS(t, ".vlog"))
		}
	}
	a, b := dirSize(t, dir)
	t.Logf("%d entries of %d B in %v: value-log mappings resident %s at the end, %s at most (sampled); on disk apparent %s, allocated %s",
		total, entryBytes, time.Since(start).Round(time.Millisecond), mib(mappedRSS(t, ".vlog")), mib(peak), mib(a), mib(b))
}

// mappedRSS returns the resident bytes of the process's mappings of files
// whose names end in ext.
func mappedRSS(t *testing.T, ext string) int64 {
	return mappedRSSOf(t, func(path string) bool { return strings.HasSuffix(path, ext) })
}

// mappedRSSOf returns the resident bytes of the process's mappings of the
// files whose paths keep accepts (a path may hold spaces: smaps does not
// quote them).
func mappedRSSOf(t *testing.T, keep func(path string) bool) int64 {
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps")
	}
	var n int64
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-"):
			i := strings.IndexByte(line, '/')
			in = i >= 0 && keep(line[i:])
		case in && len(f) >= 2 && f[0] == "Rss:":
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			n += kb << 10
		}
	}
	return n
}
