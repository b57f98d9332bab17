package node

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	raftlog "github.com/yggrdb/yggr/log"
	"github.com/yggrdb/yggr/snapshot"
)

// slowMachine is a bytesMachine whose Restore takes a while and records
// whether one is running, so that a test can see if Start returned before
// the restore it started in the background ended.
type slowMachine struct {
	bytesMachine
	running atomic.Bool
}

func (m *slowMachine) Restore(r io.Reader) error {
	m.running.Store(true)
	defer m.running.Store(false)
	time.Sleep(50 * time.Millisecond) // long enough to outlast the log's open
	return m.bytesMachine.Restore(r)
}

// snapshotted starts a single node in dir with cluster ID "c1", commits
// three commands, takes a snapshot and closes the node.
func snapshotted(t *testing.T, dir string) {
	t.Helper()
	n, err := Start(Config{ID: "n1", Dir: dir, ClusterID: "c1", StateMachine: &bytesMachine{}, TickInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []string{"a", "b", "c"} {
		if _, _, err := n.Propose(ctx, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

// Start restores the newest snapshot while the log opens (startRestore):
// the state is the snapshot's once Start returns, and Start fails, with
// the restore ended, when the log cannot open or the snapshot is damaged.
func TestStartRestoresBesideLogOpen(t *testing.T) {
	dir := t.TempDir()
	snapshotted(t, dir)

	m := &slowMachine{}
	n, err := Start(Config{ID: "n1", Dir: dir, ClusterID: "c1", StateMachine: m, TickInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(m.state); got != "abc" {
		t.Errorf("state after Start: %q, want %q", got, "abc")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	// The log refuses to open (FirstOpen, but the log exists: its
	// owner's identity record was lost); the restore started before that
	// must have ended when Start returns.
	m = &slowMachine{}
	_, err = Start(Config{ID: "n1", Dir: dir, ClusterID: "c1", FirstOpen: true, StateMachine: m, TickInterval: time.Millisecond})
	if !errors.Is(err, raftlog.ErrNoIdentity) {
		t.Fatalf("Start with FirstOpen on an existing log: %v, want ErrNoIdentity", err)
	}
	if m.running.Load() {
		t.Error("Start returned while its restore was still running")
	}

	// A damaged chunk fails Start with ErrCorrupt naming the file.
	chunks, err := filepath.Glob(filepath.Join(dir, "snapshots", "*", "chunk-*"))
	if err != nil || len(chunks) == 0 {
		t.Fatalf("chunks: %v %v", chunks, err)
	}
	b, err := os.ReadFile(chunks[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(chunks[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	m = &slowMachine{}
	_, err = Start(Config{ID: "n1", Dir: dir, ClusterID: "c1", StateMachine: m, TickInterval: time.Millisecond})
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), chunks[0]) {
		t.Errorf("Start with a damaged snapshot chunk: %v, want node's and snapshot's ErrCorrupt, naming the chunk", err)
	}
}
