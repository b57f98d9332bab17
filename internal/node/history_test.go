package node

import (
	"testing"

	"github.com/yggrdb/yggr/engine"
	raftlog "github.com/yggrdb/yggr/log"
)

// Regression (found by the watch chaos test): a follower applies
// committed entries before its own log write of them is durable, so the
// applied index may pass the log's last index. History up to the applied
// index then failed with log.ErrUnavailable, which ended a replaying watch
// (and the test's history reader) with an untyped error. It returns what
// the log holds, and nothing while the log does not hold lo yet.
func TestHistoryWhileTheLogTrailsApply(t *testing.T) {
	logs, err := raftlog.Open(t.TempDir(), raftlog.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var es []engine.Entry
	for i := uint64(1); i <= 3; i++ {
		es = append(es, engine.Entry{Index: i, Term: 1, Type: engine.EntryNormal, Data: []byte{byte(i)}})
	}
	if err := logs.Write(raftlog.Batch{Entries: es}); err != nil {
		t.Fatal(err)
	}
	n := &Node{logs: logs, w: newWaiters()}
	n.w.setApplied(5) // entries 4 and 5 applied, their write still in flight
	got, err := n.History(1, 6, 1<<20)
	if err != nil || len(got) != 3 || got[2].Index != 3 {
		t.Fatalf("History(1, 6) with the log at 3 and applied 5: %d entries, %v; want 1..3", len(got), err)
	}
	if got, err := n.History(4, 6, 1<<20); err != nil || len(got) != 0 {
		t.Fatalf("History(4, 6) with the log at 3: %d entries, %v; want none and no error", len(got), err)
	}
	// Two or more entries short of lo: nothing yet either (this failed
	// with log.ErrUnavailable; TestWatchChaos, 7 December).
	if got, err := n.History(5, 6, 1<<20); err != nil || len(got) != 0 {
		t.Fatalf("History(5, 6) with the log at 3: %d entries, %v; want none and no error", len(got), err)
	}
	if _, err := n.History(1, 7, 1<<20); err == nil {
		t.Fatal("History beyond the applied index succeeded")
	}
}
