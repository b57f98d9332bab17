package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/netquic"
)

// Forwarding: a follower hands writes and membership changes to the leader
// over the peer connection (netquic.Network.Call). The request is a kind
// byte and a payload; the answer is a status byte, the applied index and a
// payload (the result, or an error's details).

const (
	callPropose byte = 1 + iota
	callMembership
	callTransfer
	callLeader // Config.LeaderCall (leadercall.go)
	callStatus // a member's own state, served by every node (peerstatus.go)
)

const (
	statusOK byte = iota
	statusNotLeader
	statusBusy
	statusDropped
	statusUnknown
	statusNoLeader
	statusMembership
	statusTransfer
	statusClosed
	statusOther
	statusNoSpace // after statusOther: the values are on the wire
	statusStorage
)

var statusErrors = map[byte]error{
	statusBusy:       ErrBusy,
	statusDropped:    ErrDropped,
	statusUnknown:    ErrUnknownOutcome,
	statusNoLeader:   ErrNoLeader,
	statusMembership: ErrMembership,
	statusTransfer:   ErrTransfer,
	statusClosed:     ErrClosed,
	statusNoSpace:    ErrNoSpace,
	statusStorage:    ErrStorage,
}

func encodeResponse(index uint64, data []byte, err error) []byte {
	st := statusOK
	if err != nil {
		st = statusOther
		var nl *NotLeaderError
		switch {
		case errors.As(err, &nl):
			st, data = statusNotLeader, []byte(nl.Leader)
		default:
			for code, e := range statusErrors {
				if errors.Is(err, e) {
					st = code
				}
			}
			data = []byte(err.Error())
		}
	}
	b := binary.AppendUvarint([]byte{st}, index)
	return append(b, data...)
}

func (n *Node) decodeResponse(b []byte) ([]byte, uint64, error) {
	if len(b) < 2 {
		return nil, 0, fmt.Errorf("%w: short forwarded response", ErrCorrupt)
	}
	index, k := binary.Uvarint(b[1:])
	if k <= 0 {
		return nil, 0, fmt.Errorf("%w: bad forwarded response", ErrCorrupt)
	}
	data := b[1+k:]
	switch st := b[0]; st {
	case statusOK:
		return data, index, nil
	case statusNotLeader:
		id := engine.NodeID(data)
		return nil, 0, &NotLeaderError{Leader: id, Addr: n.addrs.get(id)}
	case statusOther:
		return nil, 0, errors.New(string(data))
	case statusStorage:
		// The leader stopped with the request in flight (a request that
		// reaches a stopped leader is answered NotLeader): it may still
		// commit through the other nodes.
		return nil, 0, fmt.Errorf("%w (the leader's storage failed: %s)", ErrUnknownOutcome, data)
	default:
		if e, ok := statusErrors[st]; ok {
			return nil, 0, fmt.Errorf("%w (at the leader: %s)", e, data)
		}
		return nil, 0, fmt.Errorf("%w: forwarded response status %d", ErrCorrupt, st)
	}
}

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
	watch := len(req) == 0 || req[0] != callTransfer
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
// (callStatus) is answered by any node.
func (n *Node) handleCall(ctx context.Context, from engine.NodeID, req []byte) ([]byte, error) {
	if len(req) == 0 {
		return nil, errors.New("yggr: empty forwarded request")
	}
	if n.failed() {
		// A node whose disk failed leads nothing any more: the caller
		// waits for the next leader and sends the request there (nothing
		// was proposed here).
		return encodeResponse(0, nil, &NotLeaderError{}), nil
	}
	switch req[0] {
	case callPropose:
		data, index, err := n.proposeLocal(ctx, req[1:])
		return encodeResponse(index, data, err), nil
	case callMembership:
		cc, err := decodeConfChange(req[1:])
		if err != nil {
			return encodeResponse(0, nil, err), nil
		}
		index, err := n.changeLocal(ctx, cc)
		return encodeResponse(index, nil, err), nil
	case callTransfer:
		err := n.transferLocal(ctx, engine.NodeID(req[1:]))
		return encodeResponse(0, nil, err), nil
	case callLeader:
		return n.handleLeaderCall(ctx, req[1:]), nil
	case callStatus:
		return encodeResponse(0, encodePeerStatus(n.localPeerStatus()), nil), nil
	}
	return nil, fmt.Errorf("yggr: unknown forwarded request kind %d", req[0])
}

func encodeConfChange(cc engine.ConfChange) []byte {
	b := []byte{callMembership, byte(cc.Op)}
	b = binary.AppendUvarint(b, uint64(len(cc.Node)))
	b = append(b, cc.Node...)
	return append(b, cc.Addr...)
}

func decodeConfChange(b []byte) (engine.ConfChange, error) {
	var cc engine.ConfChange
	if len(b) < 2 {
		return cc, fmt.Errorf("%w: short membership request", ErrMembership)
	}
	cc.Op = engine.ConfOp(b[0])
	l, k := binary.Uvarint(b[1:])
	if k <= 0 || l > engine.MaxNodeIDLen || uint64(len(b)-1-k) < l {
		return cc, fmt.Errorf("%w: bad membership request", ErrMembership)
	}
	cc.Node = engine.NodeID(b[1+k : 1+k+int(l)])
	cc.Addr = string(b[1+k+int(l):])
	return cc, nil
}
