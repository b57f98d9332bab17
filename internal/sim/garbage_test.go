package sim

import (
	"fmt"
	"testing"
)

// TestGarbage corrupts messages on the wire: the engine must reject bad
// input, never panic on it. Only a panic fails these runs.
func TestGarbage(t *testing.T) {
	steps := envInt(t, "YGGR_SIM_STEPS", 1500) / 2
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			ignored := 0
			defer func() { t.Logf("%d violations ignored (corrupt input makes Raft unsafe; only panics count)", ignored) }()
			for _, seed := range seeds(t, 24) {
				st, err := Run(Options{Seed: seed, Nodes: n, Steps: steps, Garbage: 0.02})
				ignored += st.Ignored
				if err != nil {
					fail(t, err, fmt.Sprintf("YGGR_SIM_STEPS=%d go test ./internal/sim -run 'TestGarbage/n=%d$' -v", steps*2, n))
				}
			}
		})
	}
}
