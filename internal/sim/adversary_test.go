package sim

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/yggrdb/yggr/engine"
)

// adversary wraps the real engine and breaks the protocol on purpose, to
// prove the simulator's checks have teeth. It lives only in tests; the
// engine has no hooks for it.
type adversary struct {
	inner Engine
	id    engine.NodeID
	rng   *rand.Rand
	mode  string
	lease int // LeaseTicks

	// arrival-lease: tick count and when each peer's last answer arrived.
	ticks   int
	arrived map[engine.NodeID]int
}

func (a *adversary) Status() engine.Status { return a.inner.Status() }

func (a *adversary) Lease() engine.LeaseState {
	l := a.inner.Lease()
	if a.mode != "arrival-lease" {
		return l
	}
	// The reference's lease bug: time the lease from when answers
	// arrive, not from when the heartbeat round was sent.
	st := a.inner.Status()
	if st.Role != engine.Leader {
		return l
	}
	n := 0
	for _, v := range st.Membership.Voters {
		if t, ok := a.arrived[v]; v == a.id || ok && a.ticks-t < a.lease {
			n++
		}
	}
	if n > len(st.Membership.Voters)/2 {
		return engine.LeaseState{Held: true, Since: l.Now, Now: l.Now, Commit: st.Commit}
	}
	return l
}

func (a *adversary) Step(ev engine.Event) []engine.Action {
	switch a.mode {
	case "fast-read":
		// Answer a read at once from the local commit index, skipping the
		// heartbeat round that confirms leadership.
		if r, ok := ev.(engine.Read); ok {
			return []engine.Action{engine.ReadReady{ID: r.ID, Index: a.inner.Status().Commit}}
		}
	}
	if a.mode == "arrival-lease" {
		// Record arrivals for Lease.
		switch ev := ev.(type) {
		case engine.Tick:
			a.ticks++
		case engine.Receive:
			if ev.Msg.Type == engine.MsgHeartbeatResp || ev.Msg.Type == engine.MsgAppResp {
				a.arrived[ev.Msg.From] = a.ticks
			}
		}
	}
	acts := a.inner.Step(ev)
	switch a.mode {
	case "drop-hard-state":
		// Forget to persist the term and vote now and then.
		return slices.DeleteFunc(acts, func(x engine.Action) bool {
			_, ok := x.(engine.PersistHardState)
			return ok && a.rng.IntN(3) == 0
		})
	case "ack-before-persist":
		// Move every PersistEntries after the Sends of the same step, so
		// an acknowledgement leaves before the entries are written.
		var persists, rest []engine.Action
		for _, x := range acts {
			switch x.(type) {
			case engine.PersistEntries, engine.TruncateLog:
				persists = append(persists, x)
			default:
				rest = append(rest, x)
			}
		}
		return append(rest, persists...)
	case "double-vote":
		// Grant every vote, even a second one in a term.
		for i, x := range acts {
			if s, ok := x.(engine.Send); ok && s.Msg.Type == engine.MsgVoteResp && s.Msg.Reject {
				s.Msg.Reject = false
				acts[i] = s
			}
		}
	case "wrong-apply":
		// Apply a different command than the log holds, rarely, on n2.
		if a.id != "n2" {
			break
		}
		for i, x := range acts {
			if ap, ok := x.(engine.ApplyEntries); ok {
				es := slices.Clone(ap.Entries)
				for j, e := range es {
					if k, _, ok := parsePut(e.Data); ok && a.rng.IntN(50) == 0 {
						es[j].Data = putCommand(k, "bogus")
					}
				}
				acts[i] = engine.ApplyEntries{Entries: es}
			}
		}
	}
	return acts
}

func adversaryEngine(mode string) NewEngine {
	return func(cfg engine.Config) (Engine, error) {
		inner, err := RealEngine(cfg)
		if err != nil {
			return nil, err
		}
		return &adversary{inner: inner, id: cfg.ID, rng: rand.New(rand.NewPCG(cfg.Seed, 1)), mode: mode, lease: cfg.LeaseTicks, arrived: map[engine.NodeID]int{}}, nil
	}
}

// TestAdversaries asserts that each deliberate protocol break is reported,
// as one of the properties it violates, within a small seed budget.
func TestAdversaries(t *testing.T) {
	tests := []struct {
		mode  string
		nodes int
		want  []string // acceptable properties
		cfg   func(*engine.Config)
	}{
		{"drop-hard-state", 3, []string{"persist before send", "election safety", "term monotonic"}, nil},
		{"ack-before-persist", 3, []string{"persist before send"}, nil},
		{"fast-read", 3, []string{"linearizability"}, nil},
		{"fast-read", 5, []string{"linearizability"}, nil},
		{"arrival-lease", 3, []string{"linearizability"}, nil},
		{"arrival-lease", 5, []string{"linearizability"}, nil},
		{"double-vote", 3, []string{"election safety", "persist before send"}, nil},
		{"double-vote", 5, []string{"election safety", "persist before send"}, nil},
		{"wrong-apply", 3, []string{"state machine safety", "linearizability"}, nil},
	}
	const budget = 64
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			newEngine := adversaryEngine(tt.mode)
			for seed := uint64(1); seed <= budget; seed++ {
				_, err := Run(Options{Seed: seed, Nodes: tt.nodes, Steps: 1500, NewEngine: newEngine, Configure: tt.cfg})
				if err == nil {
					continue
				}
				var v *Violation
				if !errors.As(err, &v) {
					t.Fatalf("seed %d: got error %v, want a violation", seed, err)
				}
				if !slices.Contains(tt.want, v.Property) {
					t.Fatalf("seed %d: got violation %v, want one of %q\n%s", seed, v, tt.want, v.Report())
				}
				t.Logf("caught at seed %d step %d: %s: %s", seed, v.Step, v.Property, v.Detail)
				return
			}
			t.Fatalf("adversary %s went unnoticed for %d seeds", tt.mode, budget)
		})
	}
}
