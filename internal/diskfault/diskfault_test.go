package diskfault

import (
	"errors"
	"syscall"
	"testing"
)

func TestCheck(t *testing.T) {
	if err := Check(WALSync, "/x"); err != nil {
		t.Fatalf("Check without a hook = %v, want nil", err)
	}
	var seen []Op
	restore := Set(func(op Op, path string) error {
		seen = append(seen, op)
		if op == WALSync && path == "/x" {
			return syscall.EIO
		}
		return nil
	})
	if err := Check(WALSync, "/x"); !errors.Is(err, syscall.EIO) {
		t.Errorf("Check(WALSync, /x) = %v, want EIO", err)
	}
	if err := Check(WALWrite, "/x"); err != nil {
		t.Errorf("Check(WALWrite, /x) = %v, want nil", err)
	}
	inner := Set(nil)
	if err := Check(WALSync, "/x"); err != nil {
		t.Errorf("Check with the hook removed = %v, want nil", err)
	}
	inner()
	if err := Check(WALSync, "/x"); err == nil {
		t.Error("restore did not bring back the hook")
	}
	restore()
	if err := Check(WALSync, "/x"); err != nil {
		t.Errorf("Check after restore = %v, want nil", err)
	}
	if len(seen) != 3 {
		t.Errorf("the hook saw %v, want 3 operations", seen)
	}
}

func TestOpString(t *testing.T) {
	for op, want := range map[Op]string{WALWrite: "wal write", WALSync: "wal sync", BadgerCommit: "badger commit",
		SnapshotWrite: "snapshot write", SnapshotSync: "snapshot sync", SnapshotInstall: "snapshot install", 0: "none", 200: "unknown"} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d).String() = %q, want %q", op, got, want)
		}
	}
}

// BenchmarkCheck is what a guarded operation pays without a hook: one
// atomic load, 1.9 ns on the 2-core CI VM, beside an fdatasync of about
// 0.4 ms (log/doc.go).
func BenchmarkCheck(b *testing.B) {
	for b.Loop() {
		if Check(WALSync, "/x") != nil {
			b.Fatal("hook")
		}
	}
}
