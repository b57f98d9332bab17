package snapshot

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
)

// The crash test runs a child process (this test binary, re-executed with
// -test.run=^TestHelperProcess$) that creates and receives snapshots in a
// loop and reports on stdout every operation that returned:
//
//	commit <index>                   Writer.Commit or the final WriteAt returned
//	recv <index> <offset> <durable>  Receiver.WriteAt returned with Offset() =
//	                                 offset, of which the first durable bytes
//	                                 were synced (the progress record says so)
//
// The parent SIGKILLs it at a random moment, then checks the directory.
// A Receiver syncs every crashSyncBytes, so most partial receives have
// durable bytes to resume from, and some are killed in a sync.
const (
	crashDirEnv    = "YGGR_SNAPSHOT_CRASH_DIR" // set in the child: the store's directory
	crashRoundsEnv = "YGGR_CRASH_ROUNDS"
	crashChunk     = 512
	crashMaxOps    = 5000 // the child exits by itself after this many snapshots
	crashSyncBytes = 3 * crashChunk
)

var crashOpts = Options{ChunkBytes: crashChunk, Retain: 2, ReceiveSyncBytes: crashSyncBytes}

// crashMeta is the snapshot the child writes at index i; every third one
// arrives through a Receiver. Its content is payload(i, Size).
func crashMeta(i uint64) (engine.SnapshotMeta, bool) {
	m := metaOf(i, i/7+1)
	m.Size = i * 7919 % (8 * crashChunk)
	return m, i%3 == 0
}

func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrash")
	}
	if err := crashChild(dir); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func crashChild(dir string) error {
	s, err := Open(dir, crashOpts)
	if err != nil {
		return err
	}
	next := uint64(1)
	if m, ok := s.Latest(); ok {
		next = m.Index + 1
	}
	for i := next; i < next+crashMaxOps; i++ {
		meta, viaReceive := crashMeta(i)
		data := payload(i, int(meta.Size))
		if !viaReceive {
			w, err := s.Create(meta)
			if err != nil {
				return err
			}
			for p := data; len(p) > 0; p = p[min(300, len(p)):] {
				if _, err := w.Write(p[:min(300, len(p))]); err != nil {
					return err
				}
			}
			if _, err := w.Commit(); err != nil {
				return err
			}
			fmt.Printf("commit %d\n", i)
			continue
		}
		rc, err := s.Receive(meta)
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(i, rc.Offset()))
		for off := rc.Offset(); ; {
			k := min(uint64(rng.IntN(700)+1), meta.Size-off)
			done := off+k == meta.Size
			if err := rc.WriteAt(off, data[off:off+k], done); err != nil {
				return err
			}
			if done {
				break
			}
			off += k
			fmt.Printf("recv %d %d %d\n", i, off, rc.durableOffset())
		}
		fmt.Printf("commit %d\n", i)
	}
	return nil
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	rounds := 5
	if v := os.Getenv(crashRoundsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", crashRoundsEnv, v)
		}
		rounds = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	var lastCommit uint64
	recvDurable := map[uint64]uint64{} // index -> greatest offset reported durable
	leftovers, resumes := 0, 0
	for round := range rounds {
		lines := runAndKill(t, dir, 1+rng.IntN(40), time.Duration(rng.IntN(20000))*time.Microsecond)
		for _, l := range lines {
			var i, off, durable uint64
			if _, err := fmt.Sscanf(l, "commit %d", &i); err == nil {
				if i <= lastCommit {
					t.Fatalf("round %d: commit %d after commit %d", round, i, lastCommit)
				}
				lastCommit = i
			} else if _, err := fmt.Sscanf(l, "recv %d %d %d", &i, &off, &durable); err == nil {
				if durable > off {
					t.Fatalf("round %d: %q: durable offset beyond the bytes received", round, l)
				}
				recvDurable[i] = max(recvDurable[i], durable)
			} else {
				t.Fatalf("round %d: unexpected child output %q", round, l)
			}
		}
		for _, name := range dirEntries(t, dir) {
			if strings.HasPrefix(name, tmpPrefix) || strings.HasPrefix(name, oldPrefix) {
				leftovers++
			}
		}
		resumes += checkAfterCrash(t, dir, round, lastCommit, recvDurable)
	}
	t.Logf("%d rounds, last committed index %d, %d leftovers found before Open, %d partial receives checked",
		rounds, lastCommit, leftovers, resumes)
}

// runAndKill starts the child, waits until it has acknowledged afterLines
// operations and then for delay (to vary the moment), SIGKILLs it and
// returns everything it printed.
func runAndKill(t *testing.T, dir string, afterLines int, delay time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		lines []string
	)
	enough := make(chan struct{})
	readerDone := make(chan struct{})
	// Owned by runAndKill; ends when the child's stdout closes (the child
	// exits or is killed below), which runAndKill waits for.
	go func() {
		defer close(readerDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			if len(lines) == afterLines {
				close(enough)
			}
			mu.Unlock()
		}
		io.Copy(io.Discard, stdout)
	}()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	select {
	case <-enough:
		kill := time.NewTimer(delay)
		select {
		case <-kill.C:
		case <-readerDone:
		}
		kill.Stop()
	case <-readerDone: // exited by itself: checked below
	case <-deadline.C:
		t.Errorf("child printed fewer than %d lines in 60 s", afterLines)
	}
	cmd.Process.Kill()
	<-readerDone
	err = cmd.Wait()
	if stderr.Len() > 0 || (err != nil && !strings.Contains(err.Error(), "killed")) {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(lines)
}

// checkAfterCrash opens the store as a restarted process would and checks
// that it holds only complete, verifiable snapshots, the latest at least as
// new as the last acknowledged commit, and that a partial receive resumes
// at or after the offset last reported durable, with correct bytes up to
// there (completing it, in a copy of the store, yields the snapshot). It
// returns the number of partial receives checked.
func checkAfterCrash(t *testing.T, dir string, round int, lastCommit uint64, recvDurable map[uint64]uint64) int {
	t.Helper()
	s, err := Open(dir, crashOpts)
	if err != nil {
		t.Fatalf("round %d: Open after kill: %v", round, err)
	}
	latest, ok := s.Latest()
	if lastCommit > 0 && (!ok || latest.Index < lastCommit) {
		t.Fatalf("round %d: Latest: got %v (ok %v), want at least index %d", round, latest, ok, lastCommit)
	}
	for _, m := range s.List() {
		want, _ := crashMeta(m.Index)
		if m.Term != want.Term || m.Size != want.Size {
			t.Errorf("round %d: listed %v size %d, want %v size %d", round, m, m.Size, want, want.Size)
		}
		got, err := readSnap(s, m.Index, m.Term)
		if err != nil || !slices.Equal(got, payload(m.Index, int(want.Size))) {
			t.Errorf("round %d: snapshot %v: got %d bytes, %v, want its %d bytes", round, m, len(got), err, want.Size)
		}
	}
	recvDirs := 0
	for _, name := range dirEntries(t, dir) {
		switch {
		case strings.HasPrefix(name, recvPrefix):
			recvDirs++
		case strings.HasPrefix(name, tmpPrefix), strings.HasPrefix(name, oldPrefix):
			t.Errorf("round %d: leftover %s after Open", round, name)
		}
	}
	if recvDirs > 1 {
		t.Errorf("round %d: %d partial receives, want at most 1", round, recvDirs)
	}
	checked := 0
	for i, durable := range recvDurable {
		if i <= latest.Index {
			continue
		}
		checked++
		meta, _ := crashMeta(i)
		// Resume in a copy: completing the receive here would publish
		// snapshot i under the next child's feet.
		cp := t.TempDir()
		if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		c, err := Open(cp, crashOpts)
		if err != nil {
			t.Fatalf("round %d: Open of a copy: %v", round, err)
		}
		rc, err := c.Receive(meta)
		if err != nil {
			t.Fatalf("round %d: Receive(%v): %v", round, meta, err)
		}
		got := rc.Offset()
		if got < durable {
			t.Errorf("round %d: partial receive of %v resumes at %d, want at least the durable %d", round, meta, got, durable)
		}
		if got > meta.Size {
			t.Fatalf("round %d: partial receive of %v resumes at %d, beyond its size %d", round, meta, got, meta.Size)
		}
		data := payload(i, int(meta.Size))
		if err := rc.WriteAt(got, data[got:], true); err != nil {
			t.Errorf("round %d: completing the receive of %v from %d: %v", round, meta, got, err)
		} else if b, err := readSnap(c, i, meta.Term); err != nil || !slices.Equal(b, data) {
			t.Errorf("round %d: receive of %v resumed at %d: got %d bytes, %v, want its %d bytes", round, meta, got, len(b), err, len(data))
		}
		rc.Close()
	}
	return checked
}
