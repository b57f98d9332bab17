package sim

import (
	"fmt"
	"testing"
)

// TestCatchUpUnderLoad: after the faults stop, every member must catch up
// with the leader even while clients keep writing (no snapshot-install
// loops).
func TestCatchUpUnderLoad(t *testing.T) {
	steps := envInt(t, "YGGR_SIM_STEPS", 1500) / 3
	for _, seed := range seeds(t, 16) {
		_, err := Run(Options{Seed: seed, Nodes: 3, Steps: steps, Liveness: true, CatchUpUnderLoad: true, TraceLen: traceLen(t)})
		if err != nil {
			fail(t, err, fmt.Sprintf("YGGR_SIM_STEPS=%d go test ./internal/sim -run 'TestCatchUpUnderLoad' -v", steps*3))
		}
	}
}
