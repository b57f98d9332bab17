package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yggrdb/yggr/engine"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Leader routing. Every request served by the leader (Propose,
// ChangeMembership, TransferLeadership, CallLeader) reaches it through
// toLeader, which applies one retry policy:
//
//   - A request whose ctx has already ended is not sent at all (ErrTimeout):
//     nothing was proposed.
//   - On the leader, and on a node without a network (a single node), the
//     request runs here; on a follower that knows the leader it is
//     forwarded (forward.go); with no leader known it fails with
//     ErrNoLeader, which is retried.
//   - A membership change that reaches a leader (here or forwarded) before
//     the leader has committed an entry of its term waits there for that
//     commit, bounded by ctx and Close, rather than being refused
//     (confready.go): a change asked right after an election succeeds.
//   - A failure is retried only when it proves the request reached no log
//     (retryable: ErrNotLeader, ErrNoLeader, ErrTransfer), or, for an
//     idempotent request (CallLeader), also when its outcome is unknown
//     (ErrUnknownOutcome). Every other error, and success, returns at once:
//     in particular ErrUnknownOutcome and ErrDropped reach the caller of a
//     write, which decides whether sending it again is safe.
//   - Before each retry it waits for the next change of leader, role or
//     term, or one tick when the change already happened, and gives up when
//     ctx ends (ErrTimeout wrapping the last failure), when the node
//     closes (ErrClosed), or after maxAttempts tries (the last failure).
//
// Clients above the runtime (the HTTP client, `yggr serve`) need not retry
// leader changes themselves: one call to the runtime already follows the
// leader for as long as ctx allows, bounded by maxAttempts. With no leader
// known each wait is one tick, so an HTTP request (ctx bounded by the
// server's RequestTimeout, 10s by default) fails with ErrNoLeader after
// maxAttempts ticks (3.2s at the default 50ms tick), before its timeout.
// What no retry on one node can fix is a node cut off from the majority:
// it never learns a leader. That is the one case a client still handles,
// and only by failing over: the HTTP client sends a write answered
// no_leader or not_leader once to each other endpoint, never to the same
// one again (httpapi.Client). `yggr serve --join` retries only while the
// join endpoint does not answer at all (it is starting).

// maxAttempts bounds the tries of one request across leader changes.
const maxAttempts = 64

// retryable reports whether a request failed before it was appended
// anywhere, so that sending it again cannot apply it twice.
func retryable(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) || errors.Is(err, ErrTransfer)
}

// leaderRequest is one request for the leader.
type leaderRequest struct {
	// local serves the request on this node, which leads (or has no
	// network).
	local func() ([]byte, uint64, error)
	// call builds the forwarded request: its call kind byte and payload
	// (built only to forward, so that the leader's own requests copy
	// nothing).
	call func() []byte
	// idempotent requests are also retried when their outcome is unknown.
	idempotent bool
}

// toLeader serves req on the leader under the retry policy above and
// returns the leader's answer: result bytes and an index.
func (n *Node) toLeader(ctx context.Context, req leaderRequest) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		// Ended before it began: nothing was sent.
		return nil, 0, fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	var lastErr error = ErrNoLeader
	for range maxAttempts {
		changed := n.leaderChanged()
		st := n.status.Load()
		var (
			data  []byte
			index uint64
			err   error
		)
		switch {
		case st.Role == engine.Leader || n.net == nil:
			data, index, err = req.local()
		case st.Leader != "":
			if span := recording(ctx); span != nil {
				span.AddEvent("forward", trace.WithAttributes(attribute.String("yggr.leader", string(st.Leader))))
			}
			data, index, err = n.forward(ctx, st.Leader, req.call())
		default:
			err = ErrNoLeader
		}
		if err == nil || !(retryable(err) || req.idempotent && errors.Is(err, ErrUnknownOutcome)) {
			return data, index, err
		}
		lastErr = err
		if err := n.waitChange(ctx, changed); err != nil {
			return nil, 0, fmt.Errorf("%w (last: %v)", err, lastErr)
		}
	}
	return nil, 0, lastErr
}

// waitChange waits for the next leader change, or a short backoff when the
// change already happened.
func (n *Node) waitChange(ctx context.Context, changed <-chan struct{}) error {
	t := time.NewTimer(n.cfg.TickInterval)
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	case <-n.stop:
		return ErrClosed
	}
	return nil
}

// recording returns ctx's span if it records events, else nil: building
// an event's attributes allocates, which a read without a tracer should
// not pay.
func recording(ctx context.Context) trace.Span {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		return span
	}
	return nil
}
