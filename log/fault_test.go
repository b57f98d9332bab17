package log

import (
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/yggrdb/yggr/internal/diskfault"
)

// failOps fails every operation op on a file under dir with EIO and counts
// the write-ahead log operations under dir after the first failure.
type failOps struct {
	mu    sync.Mutex
	fails int
	after int // WAL writes and syncs after the first failure
	path  string
}

func injectEIO(t *testing.T, dir string, op diskfault.Op) *failOps {
	f := &failOps{}
	t.Cleanup(diskfault.Set(func(o diskfault.Op, path string) error {
		if !strings.HasPrefix(path, dir) {
			return nil
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.fails > 0 && (o == diskfault.WALWrite || o == diskfault.WALSync) {
			f.after++
		}
		if o != op {
			return nil
		}
		f.fails++
		f.path = path
		return syscall.EIO
	}))
	return f
}

// onFail records the errors Options.OnFail receives.
type onFail struct {
	mu   sync.Mutex
	errs []error
}

func (o *onFail) record(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.errs = append(o.errs, err)
}

func (o *onFail) got() []error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]error(nil), o.errs...)
}

// A failed fdatasync fails the write with an error naming the segment and
// wrapping EIO, tells OnFail once, and is never retried: later writes
// touch no file, and the entries before it are intact after a reopen.
func TestFailedSyncIsNotRetried(t *testing.T) {
	dir := t.TempDir()
	var of onFail
	s, err := Open(dir, Options{OnFail: of.record})
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, Batch{Entries: ents(1, 1, 3)})
	f := injectEIO(t, dir, diskfault.WALSync)
	werr := s.Write(Batch{Entries: ents(1, 4, 4)})
	if !errors.Is(werr, syscall.EIO) || !strings.Contains(werr.Error(), f.path) || !strings.HasSuffix(f.path, walSuffix) {
		t.Fatalf("Write with a failing sync = %v, want EIO naming the segment %s", werr, f.path)
	}
	for range 3 {
		if err := s.Write(Batch{Entries: ents(1, 4, 4)}); err == nil || err.Error() != werr.Error() {
			t.Fatalf("Write after a failed sync = %v, want %v", err, werr)
		}
	}
	if f.fails != 1 || f.after != 0 {
		t.Errorf("%d failed syncs, then %d write-ahead log operations; want 1, then none", f.fails, f.after)
	}
	if got := of.got(); len(got) != 1 || got[0].Error() != werr.Error() {
		t.Errorf("OnFail got %v, want once %v", got, werr)
	}
	s.Close()
	diskfault.Set(nil)
	s = openDisk(t, dir, Options{})
	if st := mustLoad(t, s); len(st.Entries) < 3 || st.Entries[2].Index != 3 {
		t.Errorf("after a reopen the log holds %d entries, want 1 to 3 at least", len(st.Entries))
	}
}

// A checkpoint whose Badger commit fails turns the store unusable and
// tells OnFail, which is how the runtime learns of it before its next
// write.
func TestFailedBadgerCommitTellsOnFail(t *testing.T) {
	dir := t.TempDir()
	var of onFail
	s := openDisk(t, dir, Options{OnFail: of.record})
	mustWrite(t, s, Batch{Entries: ents(1, 1, 3)})
	injectEIO(t, dir, diskfault.BadgerCommit)
	cerr := s.Checkpoint()
	if !errors.Is(cerr, syscall.EIO) || !strings.Contains(cerr.Error(), "checkpoint failed") {
		t.Fatalf("Checkpoint with failing commits = %v, want a checkpoint failure wrapping EIO", cerr)
	}
	if got := of.got(); len(got) != 1 || got[0].Error() != cerr.Error() {
		t.Errorf("OnFail got %v, want once %v", got, cerr)
	}
	checkSticky(t, s, cerr)
}
