package sim

import "github.com/yggrdb/yggr/engine"

// liveness heals every fault, then requires, each within LivenessTicks:
// a write that commits, a read that completes, and a leadership transfer
// that completes.
func (w *world) liveness() {
	w.calm = true
	w.cl.admin = false
	w.net.heal()
	w.net.stalls = nil
	w.net.dropP, w.net.dupP, w.net.longDelayP = 0, 0, 0
	for _, h := range w.hosts {
		if !h.up && h.everStarted {
			h.restartAt = 0
			if err := w.start(h); err != nil {
				w.violate("host contract", "%s: restart: %v", h.id, err)
				return
			}
		}
		h.fsyncP, h.slowUntil, h.pausedUntil = 0.8, 0, 0
	}
	w.note(nil, "liveness: faults stopped, network healed, all nodes up")
	w.cl.markSeq = w.seq
	w.cl.ackedSinceMk, w.cl.servedSinceMk = 0, 0
	w.cl.transfer.active = false
	bound := w.opts.LivenessTicks
	if !w.runUntil(bound, func() bool { return w.cl.ackedSinceMk > 0 }) {
		w.violate("liveness", "no write committed within %d ticks after the faults stopped (leader: %s)", bound, w.leaderDesc())
		return
	}
	if !w.runUntil(bound, func() bool { return w.cl.servedSinceMk > 0 }) {
		w.violate("liveness", "no read completed within %d ticks after the faults stopped (leader: %s)", bound, w.leaderDesc())
		return
	}
	// Writes pause so that the transfer target can catch up (the leader
	// refuses proposals during a transfer anyway).
	w.cl.quiet = true
	done := w.cl.transfersDone
	start := w.step
	if !w.runUntil(bound, func() bool {
		if w.cl.transfersDone > done {
			return true
		}
		if !w.cl.transfer.active || (w.step-start)%(5*w.cfg.ElectionTicks) == 0 {
			w.cl.startTransfer(w, "")
		}
		return false
	}) {
		w.violate("liveness", "no leadership transfer completed within %d ticks after the faults stopped (leader: %s, target %s)", bound, w.leaderDesc(), w.cl.transfer.to)
		return
	}
	// Every member, learners included, catches up with the leader.
	w.cl.quiet = !w.opts.CatchUpUnderLoad
	l := w.leader()
	if l == nil {
		w.violate("liveness", "no leader after the transfer")
		return
	}
	st := l.eng.Status()
	target := st.Commit
	var lag *host
	if !w.runUntil(bound, func() bool {
		lag = nil
		for _, id := range st.Membership.Members() {
			if h := w.byID[id]; h != nil && h.up && h.sm.applied < target {
				lag = h
				return false
			}
		}
		return true
	}) {
		if lag != nil {
			w.violate("liveness", "%s (applied %d) did not catch up with commit %d of leader %s within %d ticks; membership %s", lag.id, lag.sm.applied, target, l.id, bound, st.Membership)
		}
	}
}

// runUntil ticks until cond holds, for at most n ticks, and records the
// ticks it took in Stats.LivenessTicks.
func (w *world) runUntil(n int, cond func() bool) bool {
	start := w.step
	defer func() { w.stats.LivenessTicks = max(w.stats.LivenessTicks, w.step-start) }()
	for range n {
		if w.fail != nil {
			return false
		}
		if cond() {
			return true
		}
		w.tick()
	}
	return w.fail == nil && cond()
}

func (w *world) leaderDesc() string {
	l := w.leader()
	if l == nil {
		return "none"
	}
	var st engine.Status = l.eng.Status()
	return st.String()
}
