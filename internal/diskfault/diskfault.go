// Package diskfault lets tests inject storage faults into a real node: an
// error (EIO) or a stall at the points where log/ and snapshot/ write and
// sync their files.
//
// # Usage
//
// The storage code calls Check before each operation it guards and treats
// a non-nil answer as that operation's own failure:
//
//	if err := diskfault.Check(diskfault.WALSync, f.Name()); err != nil { ... }
//
// A test installs a Hook, which sees the operation and the file (so it can
// pick one node by its directory), and removes it when done:
//
//	defer diskfault.Set(func(op diskfault.Op, path string) error {
//		if op == diskfault.WALSync && strings.HasPrefix(path, n2dir) {
//			return syscall.EIO
//		}
//		return nil
//	})()
//
// A Hook that blocks stalls the operation, as a slow disk would.
//
// # Caveats
//
//   - Without a hook, Check is one atomic load (1.9 ns, BenchmarkCheck):
//     production pays nothing measurable beside the system call it
//     precedes.
//   - The hook is global to the process: every store in it consults the
//     same hook, so a hook that means one node must filter by path. Tests
//     that set one must not run in parallel with other storage tests.
//   - Badger's own files are not reached: BadgerCommit guards the log's
//     commits into Badger (each of which Badger syncs), not Badger's
//     internal compactions.
package diskfault

import "sync/atomic"

// Op names a guarded storage operation.
type Op uint8

// The guarded operations.
const (
	// WALWrite is the write of a record into a write-ahead log segment.
	WALWrite Op = iota + 1
	// WALSync is the fdatasync after it.
	WALSync
	// BadgerCommit is one commit of a checkpoint (or compaction) into
	// Badger; path is the Badger directory.
	BadgerCommit
	// SnapshotWrite is the write of a snapshot chunk file, taken or
	// received.
	SnapshotWrite
	// SnapshotSync is the fsync of a snapshot chunk or manifest file.
	SnapshotSync
	// SnapshotInstall is the publication of a snapshot received from the
	// leader, after its chunks were verified; path is its directory.
	SnapshotInstall
)

var opNames = [...]string{"none", "wal write", "wal sync", "badger commit", "snapshot write", "snapshot sync", "snapshot install"}

// String returns the operation's name, as log lines and errors show it.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "unknown"
}

// Hook decides the fate of one operation on the file at path: nil lets it
// proceed, an error fails it (before it touches the file). It may block.
// It is called from the storage goroutines of every store in the process,
// concurrently.
type Hook func(op Op, path string) error

var hook atomic.Pointer[Hook]

// Set installs h (nil removes any) and returns a function that restores
// the hook installed before.
func Set(h Hook) (restore func()) {
	var p *Hook
	if h != nil {
		p = &h
	}
	old := hook.Swap(p)
	return func() { hook.Store(old) }
}

// Check asks the installed hook, if any, about op on path.
func Check(op Op, path string) error {
	if h := hook.Load(); h != nil {
		return (*h)(op, path)
	}
	return nil
}
