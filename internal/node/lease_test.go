package node

import (
	"strings"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/testutil"
)

// TestLeaseDeadlineIsMonotonic: the runtime publishes the engine's lease
// (engine.TickClock's rule) as a deadline on the monotonic clock, at most
// LeaseTicks-1 intervals after a tick it stepped, so that a wall-clock
// jump neither stretches nor ends it.
func TestLeaseDeadlineIsMonotonic(t *testing.T) {
	const interval = 10 * time.Millisecond
	const leaseTicks = 8
	n, err := Start(Config{ID: "n1", Dir: t.TempDir(), StateMachine: &bytesMachine{}, TickInterval: interval,
		Engine: engine.Config{ElectionTicks: 10, LeaseTicks: leaseTicks}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	testutil.WaitFor(t, "a lease", func() bool { _, ok := n.leaseIndex(time.Now()); return ok })
	g := n.lease.Load()
	if g == nil {
		t.Fatal("lease index served without a published lease")
	}
	if !strings.Contains(g.until.String(), " m=") {
		t.Errorf("deadline %v has no monotonic clock reading", g.until)
	}
	if left := time.Until(g.until); left > (leaseTicks-1)*interval {
		t.Errorf("lease ends in %v, more than LeaseTicks-1 intervals (%v)", left, (leaseTicks-1)*interval)
	}
}
