package node

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/yggrdb/yggr/engine"
)

// unknownAction is an engine action this runtime does not know (a newer
// engine's, say): embedding the interface satisfies its sealed method.
type unknownAction struct{ engine.Action }

// An action the runtime does not know stops the node loudly: it is named
// in the error every pending and later request gets, and nothing of the
// iteration is carried out.
func TestExecuteFailsOnUnknownAction(t *testing.T) {
	n := &Node{cfg: Config{ID: "n1", Logger: slog.New(slog.DiscardHandler)}, w: newWaiters()}
	_, pw := n.w.newProposal()
	// The hard state before it is not written: the job never reaches the
	// (absent) storage goroutine.
	n.execute([]engine.Action{engine.PersistHardState{HardState: engine.HardState{Term: 2}}, unknownAction{}})
	if !n.failed() {
		t.Fatal("the node goes on after an unknown action")
	}
	const want = "unknown engine action node.unknownAction"
	if err := n.fatalErr(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("fatal error %v, want it to name %q", err, want)
	}
	select {
	case r := <-pw.ch:
		if r.err == nil || !strings.Contains(r.err.Error(), want) {
			t.Fatalf("pending proposal got %v, want the unknown action named", r.err)
		}
	default:
		t.Fatal("pending proposal not failed")
	}
}
