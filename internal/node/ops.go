package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yggrdb/yggr/engine"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Propose replicates cmd through the log and returns the state machine's
// result and the index at which it was applied. A follower forwards it to
// the leader; with no leader known it waits for one until ctx ends
// (route.go). A cancelled ctx ends the wait, never the apply of a
// committed entry.
func (n *Node) Propose(ctx context.Context, cmd []byte) ([]byte, uint64, error) {
	return n.toLeader(ctx, leaderRequest{
		local: func() ([]byte, uint64, error) { return n.proposeLocal(ctx, cmd) },
		call:  func() []byte { return appendRequest(callPropose, cmd...) },
	})
}

// proposeLocal hands a proposal to this node's engine and waits for its
// result.
func (n *Node) proposeLocal(ctx context.Context, cmd []byte) ([]byte, uint64, error) {
	start := time.Now()
	pw, err := n.submitProposal(cmd)
	if err != nil {
		return nil, 0, err
	}
	if span := recording(ctx); span != nil {
		span.AddEvent("propose")
	}
	return n.awaitProposal(ctx, pw, start)
}

// submitProposal hands cmd to this node's engine without waiting for it: the
// proposal's waiter receives its one result (ErrBusy at once if the
// engine's queue is full).
func (n *Node) submitProposal(cmd []byte) (*proposalWaiter, error) {
	if err := n.fatalErr(); err != nil {
		return nil, err
	}
	if n.applyQ.lag() > n.cfg.MaxApplyLag {
		return nil, ErrBusy
	}
	if err := n.disk.admit(len(cmd)); err != nil {
		return nil, err
	}
	id, pw := n.w.newProposal()
	select {
	case n.proposals <- engine.Proposal{ID: id, Data: cmd}:
	default:
		n.w.failProposal(id, ErrBusy)
	}
	return pw, nil
}

// awaitProposal waits for the result of a proposal submitted at start.
func (n *Node) awaitProposal(ctx context.Context, pw *proposalWaiter, start time.Time) ([]byte, uint64, error) {
	select {
	case r := <-pw.ch:
		if r.err == nil {
			n.metrics.observeStages(start, r)
			if span := recording(ctx); span != nil {
				span.AddEvent("applied", trace.WithAttributes(attribute.Int64("yggr.index", int64(r.index))))
			}
		}
		return r.data, r.index, r.err
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	case <-n.stop:
		return nil, 0, ErrClosed
	}
}

// Proposed is the outcome of one command of ProposeEach: what Propose
// returns.
type Proposed struct {
	Data  []byte
	Index uint64
	Err   error
}

// ProposeEach proposes every command of cmds as Propose would, each its
// own log entry, and returns when all have their outcome: out[i] is what
// Propose(ctx, cmds[i]) would have returned. The commands are independent:
// not atomic together, in no order among themselves, as if proposed by
// len(cmds) goroutines at once.
//
// On a leader the calling goroutine hands them all to the engine and then
// waits for each in turn, so n writes that arrive together (a batch of the
// HTTP API) cost no goroutine each: a goroutine per command, started on a
// small stack and grown on the propose path, was 7% of a sidecar leader's
// CPU. A command that meets a change of leader (a retryable error), and
// every command on a node that does not lead, goes through Propose, which
// forwards and retries, on a goroutine of its own. One difference from
// separate calls: the leader's answers are read in order, so a command
// refused by a leader that is stepping down is retried once the answers
// for the commands before it are in (within ctx, like everything here).
// A panic on one of those goroutines is raised again on the caller's.
func (n *Node) ProposeEach(ctx context.Context, cmds [][]byte) []Proposed {
	out := make([]Proposed, len(cmds))
	if err := ctx.Err(); err != nil {
		for i := range out {
			out[i].Err = fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return out
	}
	var wg sync.WaitGroup
	var panicked atomic.Value
	propose := func(i int) {
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					panicked.CompareAndSwap(nil, panicValue{v})
				}
			}()
			out[i].Data, out[i].Index, out[i].Err = n.Propose(ctx, cmds[i])
		})
	}
	if st := n.status.Load(); st.Role == engine.Leader || n.net == nil {
		start := time.Now()
		pws := make([]*proposalWaiter, len(cmds))
		for i, cmd := range cmds {
			pws[i], out[i].Err = n.submitProposal(cmd)
		}
		if span := recording(ctx); span != nil {
			span.AddEvent("propose", trace.WithAttributes(attribute.Int("yggr.proposals", len(cmds))))
		}
		for i, pw := range pws {
			if pw != nil {
				out[i].Data, out[i].Index, out[i].Err = n.awaitProposal(ctx, pw, start)
			}
			if out[i].Err != nil && retryable(out[i].Err) {
				n.proposeEachRetries.Add(1)
				propose(i)
			}
		}
	} else {
		for i := range cmds {
			propose(i)
		}
	}
	wg.Wait()
	if v, ok := panicked.Load().(panicValue); ok {
		panic(v.v)
	}
	return out
}

// panicValue boxes a recovered value for an atomic.Value (which refuses
// nil and values of differing types).
type panicValue struct{ v any }

// ProposeEachRetries returns how many commands this node's ProposeEach
// proposed, as leader, that met a change of leader and went through
// Propose (tests).
func (n *Node) ProposeEachRetries() uint64 { return n.proposeEachRetries.Load() }

// ReadIndex returns an index such that a read of the state machine once it
// has applied that index is linearizable, and waits until this node's state
// machine has applied it. With ReadLease, a leader holding a lease answers
// from the lease published by the driver (lease.go), without a round;
// otherwise, and for ReadIndex, the read joins a batch (waiters.joinRead)
// that the engine serves with one ReadIndex round.
func (n *Node) ReadIndex(ctx context.Context, mode ReadMode) (uint64, error) {
	if err := ctx.Err(); err != nil {
		// Deterministic: without this, a read whose answer is ready
		// races the done context in the selects below.
		return 0, fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	start := time.Now()
	if mode == ReadLease {
		if index, ok := n.leaseIndex(start); ok {
			return n.readAt(ctx, start, index)
		}
	}
	var lastErr error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		changed := n.leaderChanged()
		b, submit := n.w.joinRead()
		if submit {
			n.submitRead(b)
		}
		err := n.waitRead(ctx, b)
		if next := n.w.leaveRead(b); next != nil {
			n.submitRead(next)
		}
		if err != nil {
			return 0, err
		}
		if b.err == nil {
			if span := recording(ctx); span != nil {
				span.AddEvent("read index", trace.WithAttributes(attribute.Int64("yggr.index", int64(b.index))))
			}
			return n.readAt(ctx, start, b.index)
		}
		if !retryable(b.err) && !errors.Is(b.err, ErrTimeout) {
			return 0, b.err
		}
		lastErr = b.err
		if err := n.waitChange(ctx, changed); err != nil {
			return 0, fmt.Errorf("%w (last: %v)", err, lastErr)
		}
	}
	return 0, lastErr
}

// waitRead waits until b is answered or ctx ends. It does not watch
// n.stop: Close fails every batch (waiters.failAll) once the node's
// goroutines have ended, which closes b.done. Up to 64 readers wait on one
// batch, and every channel a reader selects on is locked when it parks and
// again when it wakes: a shared stop channel made that lock contended, and
// without a ctx to watch the wait is a plain receive, which wakes without
// relocking at all.
func (n *Node) waitRead(ctx context.Context, b *readBatch) error {
	done := ctx.Done()
	if done == nil {
		<-b.done
		return nil
	}
	select {
	case <-b.done:
		return nil
	case <-done:
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
}

// submitRead hands a read batch to the driver, or fails it (and hands on
// the next batch) when the driver's queue is full or the node stopped.
func (n *Node) submitRead(b *readBatch) {
	for b != nil {
		err := n.submit(engine.Read{ID: b.id})
		if err == nil {
			return
		}
		b = n.w.readDone(b.id, 0, err)
	}
}

// readDone answers a read batch and hands the next one to the driver when
// the answered batch has no reader left to wake (waiters.readDone).
func (n *Node) readDone(id, index uint64, err error) {
	if next := n.w.readDone(id, index, err); next != nil {
		n.submitRead(next)
	}
}

// readAt waits until the state machine has applied index, the read index
// of a read that started at start.
func (n *Node) readAt(ctx context.Context, start time.Time, index uint64) (uint64, error) {
	if err := n.WaitApplied(ctx, index); err != nil {
		return 0, err
	}
	// A read index granted just before the disk failed is not served
	// after it: the node answers nothing once stopped.
	if err := n.fatalErr(); err != nil {
		return 0, err
	}
	n.metrics.readTime.observe(time.Since(start).Seconds())
	return index, nil
}

// ChangeMembership proposes a single-server membership change and returns
// the index of its config entry once applied. A follower forwards it
// (route.go); a removal whose forward lost the leader's answer succeeds
// with index 0 when this node's configuration shows it committed
// (removalOutcome).
func (n *Node) ChangeMembership(ctx context.Context, cc engine.ConfChange) (uint64, error) {
	_, index, err := n.toLeader(ctx, leaderRequest{
		local: func() ([]byte, uint64, error) {
			index, err := n.changeLocal(ctx, cc)
			return nil, index, err
		},
		call: func() []byte { return encodeConfChange(cc) },
	})
	if errors.Is(err, ErrUnknownOutcome) && cc.Op == engine.ConfRemove {
		return n.removalOutcome(ctx, cc.Node, index, err)
	}
	return index, err
}

// removalOutcome tells what happened to a removal of id whose forward
// ended with an unknown outcome (err): the leader that removes itself
// steps down and its answer to the follower that forwarded the change can
// be lost. The follower's own configuration shows the outcome: once it no
// longer holds id and has no change pending, the removal committed and
// the answer is success. It waits for that up to maxAttempts leader
// changes or ticks, or until ctx ends, and otherwise returns err: the
// outcome is still unknown.
func (n *Node) removalOutcome(ctx context.Context, id engine.NodeID, index uint64, err error) (uint64, error) {
	for range maxAttempts {
		changed := n.leaderChanged()
		if st := n.status.Load(); !st.Membership.Contains(id) && !st.PendingConfig {
			return index, nil
		}
		if n.waitChange(ctx, changed) != nil {
			break
		}
	}
	return index, err
}

// changeLocal proposes a membership change on this node, which leads (or
// has no network). A leader that has not yet committed an entry of its
// term waits for it first (confready.go); if the engine still refuses the
// change as too early (this node's status lagged the engine, or it was
// elected again meanwhile), it waits again, for as long as ctx allows and
// for at most maxAttempts refusals.
func (n *Node) changeLocal(ctx context.Context, cc engine.ConfChange) (uint64, error) {
	var err error
	for range maxAttempts {
		if err := n.waitTermCommit(ctx); err != nil {
			return 0, err
		}
		changed := n.leaderChanged()
		var index uint64
		if index, err = n.proposeChange(ctx, cc); !errors.Is(err, engine.ErrConfNotReady) {
			return index, err
		}
		if werr := n.waitChange(ctx, changed); werr != nil {
			return 0, fmt.Errorf("%w (last: %v)", werr, err)
		}
	}
	return 0, err
}

// proposeChange hands a membership change to the engine and waits for its
// outcome.
func (n *Node) proposeChange(ctx context.Context, cc engine.ConfChange) (uint64, error) {
	id, pw := n.w.newProposal()
	if err := n.submit(engine.ChangeMembership{ID: id, Change: cc}); err != nil {
		n.w.failProposal(id, err)
	}
	select {
	case r := <-pw.ch:
		return r.index, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	case <-n.stop:
		return 0, ErrClosed
	}
}

// TransferLeadership hands leadership to the voter to (any up-to-date voter
// if empty) and waits until it leads. A follower forwards the request, and
// with no leader known it waits for one (route.go).
func (n *Node) TransferLeadership(ctx context.Context, to engine.NodeID) error {
	_, _, err := n.toLeader(ctx, leaderRequest{
		local: func() ([]byte, uint64, error) { return nil, 0, n.transferLocal(ctx, to) },
		call:  func() []byte { return appendRequest(callTransfer, []byte(to)...) },
	})
	return err
}

func (n *Node) transferLocal(ctx context.Context, to engine.NodeID) error {
	if to == n.cfg.ID {
		return nil
	}
	m := n.status.Load().Membership
	if to != "" && !m.IsVoter(to) {
		return fmt.Errorf("%w: %q is not a voter", ErrMembership, to)
	}
	if to == "" && len(m.Voters) < 2 {
		return fmt.Errorf("%w: no other voter to hand leadership to", ErrMembership)
	}
	if err := n.submit(engine.TransferLeadership{To: to}); err != nil {
		return err
	}
	// The engine aborts a transfer after an election timeout.
	limit := time.NewTimer(time.Duration(3*n.electionTicks()) * n.cfg.TickInterval)
	defer limit.Stop()
	for {
		changed := n.leaderChanged()
		st := n.status.Load()
		if st.Leader != "" && st.Leader != n.cfg.ID && (to == "" || st.Leader == to) {
			return nil
		}
		select {
		case <-changed:
		case <-limit.C:
			return fmt.Errorf("%w: leadership transfer to %q did not complete", ErrTimeout, to)
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		case <-n.stop:
			return ErrClosed
		}
	}
}
