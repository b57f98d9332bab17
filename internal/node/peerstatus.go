package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/record"
)

// Peer status: any member answers a peer's question "what is your role,
// term, commit and applied index?" (kind callStatus), so that one node can
// report the whole cluster as each member sees itself (the console's
// cluster view). Unlike the other calls it is served by every node, not
// only the leader, and never forwarded.
//
//	answer: version 1, role byte, uvarint term, commit, applied, last
//	        index, then the leader's ID (the rest, possibly empty)
const peerStatusVersion = 1

// PeerStatus is a member's own view of its state.
type PeerStatus struct {
	Role                             engine.Role
	Leader                           engine.NodeID
	Term, Commit, Applied, LastIndex uint64
}

var errPeerStatusWire = errors.New("bad peer status encoding")

func encodePeerStatus(s PeerStatus) []byte {
	b := []byte{peerStatusVersion, byte(s.Role)}
	for _, v := range []uint64{s.Term, s.Commit, s.Applied, s.LastIndex} {
		b = binary.AppendUvarint(b, v)
	}
	return append(b, s.Leader...)
}

func decodePeerStatus(b []byte) (PeerStatus, error) {
	var s PeerStatus
	if len(b) < 6 || b[0] != peerStatusVersion {
		return s, fmt.Errorf("%w: short answer or unknown version", errPeerStatusWire)
	}
	if b[1] > byte(engine.Leader) {
		return s, fmt.Errorf("%w: unknown role %d", errPeerStatusWire, b[1])
	}
	s.Role = engine.Role(b[1])
	rest := b[2:]
	for _, p := range []*uint64{&s.Term, &s.Commit, &s.Applied, &s.LastIndex} {
		v, k := record.Uvarint(rest)
		if k <= 0 {
			return PeerStatus{}, fmt.Errorf("%w: bad index", errPeerStatusWire)
		}
		*p, rest = v, rest[k:]
	}
	if len(rest) > engine.MaxNodeIDLen {
		return PeerStatus{}, fmt.Errorf("%w: leader ID of %d bytes", errPeerStatusWire, len(rest))
	}
	s.Leader = engine.NodeID(rest)
	return s, nil
}

// localPeerStatus is this node's answer.
func (n *Node) localPeerStatus() PeerStatus {
	st := n.Status()
	return PeerStatus{Role: st.Role, Leader: st.Leader, Term: st.Term, Commit: st.Commit, Applied: st.Applied, LastIndex: st.LastIndex}
}

// PeerStatus asks member id for its own view of its state (this node
// answers for itself without a call). The wait is bounded by ctx only: a
// member that is down or partitioned away fails when ctx ends.
func (n *Node) PeerStatus(ctx context.Context, id engine.NodeID) (PeerStatus, error) {
	if id == n.cfg.ID {
		return n.localPeerStatus(), nil
	}
	if n.net == nil {
		return PeerStatus{}, fmt.Errorf("%w: %s is not a peer of a single node", ErrNoLeader, id)
	}
	resp, err := n.net.Call(ctx, id, appendRequest(callStatus))
	if err != nil {
		return PeerStatus{}, err
	}
	data, _, err := n.decodeResponse(resp)
	if err != nil {
		return PeerStatus{}, err
	}
	s, err := decodePeerStatus(data)
	if err != nil {
		return PeerStatus{}, fmt.Errorf("%w: from %s: %v", ErrCorrupt, id, err)
	}
	return s, nil
}
