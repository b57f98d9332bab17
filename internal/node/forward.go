package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/netquic"
)

// forward sends a request to the leader and decodes its answer.
//
// A leader that dies does not answer: the wait ends when this node learns
// of a leader change (an election timeout at most), with ErrUnknownOutcome
// since the request may have been appended before the leader died.
func (n *Node) forward(ctx context.Context, leader engine.NodeID, req []byte) ([]byte, uint64, error) {
	// A stopped node forwards nothing either: no request succeeds on it.
	if err := n.fatalErr(); err != nil {
		return nil, 0, err
	}
	// A transfer's success is itself a leader change: only the caller's
	// ctx bounds it.
	kind, _, _ := splitRequest(req)
	watch := kind != callTransfer
	n.metrics.forwarded.Add(1)
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The watcher: owned by this call, it ends when the call returns
	// (cancel closes callCtx) or the leader changes.
	go func() {
		if !watch {
			return
		}
		for i := 0; i < 1<<20; i++ {
			changed := n.leaderChanged()
			if n.status.Load().Leader != leader {
				// A deposed but live leader still answers (NotLeader, or
				// the result): give it two ticks before giving up.
				t := time.NewTimer(2 * n.cfg.TickInterval)
				defer t.Stop()
				select {
				case <-t.C:
					cancel()
				case <-callCtx.Done():
				}
				return
			}
			select {
			case <-changed:
			case <-callCtx.Done():
				return
			}
		}
	}()
	resp, err := n.net.Call(callCtx, leader, req)
	if err != nil {
		return nil, 0, forwardError(leader, ctx.Err(), callCtx.Err(), err)
	}
	return n.decodeResponse(resp)
}

// forwardError says what a failed forward to leader means for the
// request, given the caller's context error, the call's own context error
// (the leader-change watcher cancels it) and the transport's error:
//   - the caller's context ended: its error (a timeout, a cancellation);
//   - the leader is not a peer of this node (it was removed, or this node
//     has not learnt its address yet): ErrNoLeader, since nothing was sent;
//   - the leader refused the call unserved (it is closing): ErrNoLeader;
//   - otherwise the request may have reached the leader: ErrUnknownOutcome.
//
// It is never a bare transport error (which the HTTP API would answer as
// an internal error).
func forwardError(leader engine.NodeID, ctxErr, callErr, err error) error {
	switch {
	case ctxErr != nil:
		return fmt.Errorf("forwarding to leader %s: %w", leader, err)
	case errors.Is(err, netquic.ErrUnknownPeer):
		return fmt.Errorf("%w: cannot reach leader %s (%v)", ErrNoLeader, leader, err)
	case errors.Is(err, netquic.ErrNoHandler):
		// The leader refused the call before serving it (it is closing):
		// nothing was applied, and another leader will be elected.
		return fmt.Errorf("%w: leader %s is shutting down; the request was not applied", ErrNoLeader, leader)
	case callErr != nil:
		return fmt.Errorf("%w: leader %s changed while forwarding", ErrUnknownOutcome, leader)
	}
	return fmt.Errorf("%w: forwarding to leader %s: %v", ErrUnknownOutcome, leader, err)
}

// handleCall serves a forwarded request on the leader. It never forwards
// again: a node that is not the leader answers NotLeader. A status call
// (callStatus) and an address book call (callAddrs) are answered by any
// node.
func (n *Node) handleCall(ctx context.Context, from engine.NodeID, req []byte) ([]byte, error) {
	kind, payload, err := splitRequest(req)
	if err != nil {
		return nil, err
	}
	if n.failed() {
		// A node whose disk failed leads nothing any more: the caller
		// waits for the next leader and sends the request there (nothing
		// was proposed here).
		return encodeResponse(0, nil, &NotLeaderError{}), nil
	}
	switch kind {
	case callPropose:
		data, index, err := n.proposeLocal(ctx, payload)
		return encodeResponse(index, data, err), nil
	case callMembership:
		cc, err := decodeConfChange(payload)
		if err != nil {
			return encodeResponse(0, nil, err), nil
		}
		index, err := n.changeLocal(ctx, cc)
		return encodeResponse(index, nil, err), nil
	case callTransfer:
		err := n.transferLocal(ctx, engine.NodeID(payload))
		return encodeResponse(0, nil, err), nil
	case callLeader:
		return n.handleLeaderCall(ctx, payload), nil
	case callStatus:
		return encodeResponse(0, encodePeerStatus(n.localPeerStatus()), nil), nil
	case callAddrs:
		return encodeResponse(0, encodeAddrBook(n.addrs.all()), nil), nil
	}
	return nil, fmt.Errorf("yggr: unknown forwarded request kind %d", kind)
}
