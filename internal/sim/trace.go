package sim

import (
	"fmt"
	"strings"

	"github.com/yggrdb/yggr/engine"
)

// traceRecord is one line of the trace, formatted only when a run fails.
type traceRecord struct {
	step int
	node engine.NodeID
	role engine.Role
	term uint64
	in   bool // an event stepped into the engine (else an action or a sim note)
	item any  // engine.Event, engine.Action or string
}

// tracer keeps the last n records in a ring.
type tracer struct {
	ring []traceRecord
	next int
	full bool
}

func newTracer(n int) *tracer { return &tracer{ring: make([]traceRecord, n)} }

func (t *tracer) add(r traceRecord) {
	if len(t.ring) == 0 {
		return
	}
	t.ring[t.next] = r
	t.next++
	if t.next == len(t.ring) {
		t.next, t.full = 0, true
	}
}

// lines renders the ring oldest first, with a header.
func (t *tracer) lines() []string {
	out := []string{fmt.Sprintf("%6s  %-4s  %-9s  %4s  %s", "step", "node", "role", "term", "event/action")}
	emit := func(r traceRecord) {
		dir := "  "
		if r.in {
			dir = "> "
		}
		out = append(out, fmt.Sprintf("%6d  %-4s  %-9s  %4d  %s%s", r.step, r.node, r.role, r.term, dir, describe(r.item)))
	}
	if t.full {
		for _, r := range t.ring[t.next:] {
			emit(r)
		}
	}
	for _, r := range t.ring[:t.next] {
		emit(r)
	}
	return out
}

func entryList(es []engine.Entry) string {
	if len(es) > 6 {
		return fmt.Sprintf("[%s .. %s] (%d)", es[0], es[len(es)-1], len(es))
	}
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.String()
		if e.Type != engine.EntryNormal {
			parts[i] += "(" + e.Type.String() + ")"
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// describe renders an event or action in term/index notation.
func describe(item any) string {
	switch x := item.(type) {
	case string:
		return "** " + x
	case engine.Tick:
		return "Tick"
	case engine.Receive:
		return "Receive " + x.Msg.String()
	case engine.Propose:
		return fmt.Sprintf("Propose id=%d %q", x.ID, x.Data)
	case engine.ProposeBatch:
		return fmt.Sprintf("ProposeBatch n=%d first=%d", len(x.Proposals), x.Proposals[0].ID)
	case engine.ChangeMembership:
		return fmt.Sprintf("ChangeMembership id=%d %s", x.ID, x.Change)
	case engine.TransferLeadership:
		return fmt.Sprintf("TransferLeadership to=%s", x.To)
	case engine.Read:
		return fmt.Sprintf("Read id=%d", x.ID)
	case engine.LogPersisted:
		return fmt.Sprintf("LogPersisted %d/%d", x.Term, x.Index)
	case engine.SnapshotTaken:
		return fmt.Sprintf("SnapshotTaken %s %s", x.Meta, x.Meta.Membership)
	case engine.SnapshotFailed:
		return fmt.Sprintf("SnapshotFailed %d", x.Index)
	case engine.SnapshotChunkFailed:
		return fmt.Sprintf("SnapshotChunkFailed to=%s", x.To)
	case engine.Recover:
		return fmt.Sprintf("Recover hs=%d/%s/%d snap=%s host-applied=%d entries=%s", x.HardState.Term, x.HardState.Vote, x.HardState.Commit, x.Snapshot, x.Applied, entryList(x.Entries))
	case engine.PersistHardState:
		return fmt.Sprintf("PersistHardState term=%d vote=%s commit=%d", x.HardState.Term, x.HardState.Vote, x.HardState.Commit)
	case engine.TruncateLog:
		return fmt.Sprintf("TruncateLog from=%d", x.Index)
	case engine.PersistEntries:
		return "PersistEntries " + entryList(x.Entries)
	case engine.Send:
		return "Send " + x.Msg.String()
	case engine.SendSnapshot:
		return fmt.Sprintf("SendSnapshot %s max=%d", x.Msg, x.MaxBytes)
	case engine.ApplyEntries:
		return "ApplyEntries " + entryList(x.Entries)
	case engine.ProposalAccepted:
		return fmt.Sprintf("ProposalAccepted id=%d at %d/%d", x.ID, x.Term, x.Index)
	case engine.ProposalRejected:
		return fmt.Sprintf("ProposalRejected id=%d leader=%s: %v", x.ID, x.Leader, x.Err)
	case engine.ReadReady:
		return fmt.Sprintf("ReadReady id=%d index=%d", x.ID, x.Index)
	case engine.ReadFailed:
		return fmt.Sprintf("ReadFailed id=%d leader=%s: %v", x.ID, x.Leader, x.Err)
	case engine.WriteSnapshotChunk:
		s := fmt.Sprintf("WriteSnapshotChunk %s off=%d len=%d", x.Meta, x.Offset, len(x.Data))
		if x.Done {
			s += " done"
		}
		return s
	case engine.RestoreSnapshot:
		return fmt.Sprintf("RestoreSnapshot %s keep=%v %s", x.Meta, x.KeepLog, x.Meta.Membership)
	case engine.CompactLog:
		return fmt.Sprintf("CompactLog %d", x.Index)
	case engine.SnapshotHint:
		return fmt.Sprintf("SnapshotHint %d", x.Index)
	case engine.RoleChanged:
		return fmt.Sprintf("RoleChanged %s term=%d leader=%s", x.Role, x.Term, x.Leader)
	case engine.MembershipChanged:
		return "MembershipChanged " + x.Membership.String()
	}
	return fmt.Sprintf("%T %+v", item, item)
}
