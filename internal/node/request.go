package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/record"
)

// Forwarding: a follower hands writes and membership changes to the leader
// over the peer connection (Network.Call). This file is the one place
// their bytes are written and read; testdata/forward.golden locks them.
//
// A request is a header byte and a payload; the answer is a header byte,
// the applied index (uvarint) and a payload (the result, or an error's
// details). A header byte holds a version in its high four bits and the
// request kind or answer status in its low four: version 0 is what every
// release so far writes, so the bytes are those of a bare kind or status
// byte, and a node of this release and one of an earlier one understand
// each other. A later layout takes version 1: this release refuses it with
// an error that names the version, and an earlier one refuses it as an
// unknown kind or status, so neither misreads it.
//
// Payloads: propose, internal/kv's command (which carries its own version
// byte); membership, the ConfOp byte, the node ID (uvarint length) and
// then the address; transfer, the target's ID; leader call, the
// application's bytes; status and address book, nothing (peerstatus.go and
// addrsync.go have the answers).

// wireVersion is the version of the request and answer layouts written.
const wireVersion = 0

const (
	callPropose byte = 1 + iota
	callMembership
	callTransfer
	callLeader // Config.LeaderCall (leadercall.go)
	callStatus // a member's own state, served by every node (peerstatus.go)
	callAddrs  // a member's address book, served by every node (addrsync.go)
)

// appendRequest returns the request of the given kind with payload.
func appendRequest(kind byte, payload ...byte) []byte {
	return append([]byte{wireVersion<<4 | kind}, payload...)
}

// splitRequest returns a request's kind and payload (aliasing req).
func splitRequest(req []byte) (byte, []byte, error) {
	if len(req) == 0 {
		return 0, nil, errors.New("yggr: empty forwarded request")
	}
	if v := req[0] >> 4; v != wireVersion {
		return 0, nil, fmt.Errorf("yggr: forwarded request of version %d (this node reads %d): the sender runs a newer yggr", v, wireVersion)
	}
	return req[0] & 0x0f, req[1:], nil
}

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
	b := binary.AppendUvarint([]byte{wireVersion<<4 | st}, index)
	return append(b, data...)
}

func (n *Node) decodeResponse(b []byte) ([]byte, uint64, error) {
	if len(b) < 2 {
		return nil, 0, fmt.Errorf("%w: short forwarded response", ErrCorrupt)
	}
	index, k := record.Uvarint(b[1:])
	if k <= 0 {
		return nil, 0, fmt.Errorf("%w: bad forwarded response", ErrCorrupt)
	}
	data := b[1+k:]
	if v := b[0] >> 4; v != wireVersion {
		return nil, 0, fmt.Errorf("%w: forwarded response of version %d (this node reads %d): the leader runs a newer yggr", ErrCorrupt, v, wireVersion)
	}
	switch st := b[0] & 0x0f; st {
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
	case statusClosed:
		// The leader was closed with the request in flight: as above. This
		// node is not closed, so ErrClosed would tell its caller to give
		// up on a database that still works.
		return nil, 0, fmt.Errorf("%w (the leader closed: %s)", ErrUnknownOutcome, data)
	default:
		if e, ok := statusErrors[st]; ok {
			// The leader's message starts with the same sentinel's text:
			// say it once.
			detail, found := strings.CutPrefix(string(data), e.Error())
			if !found {
				return nil, 0, fmt.Errorf("%w (at the leader: %s)", e, data)
			}
			if detail = strings.TrimPrefix(detail, ": "); detail == "" {
				return nil, 0, fmt.Errorf("%w (at the leader)", e)
			}
			return nil, 0, fmt.Errorf("%w: %s (at the leader)", e, detail)
		}
		return nil, 0, fmt.Errorf("%w: forwarded response status %d", ErrCorrupt, st)
	}
}

func encodeConfChange(cc engine.ConfChange) []byte {
	b := appendRequest(callMembership, byte(cc.Op))
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
	l, k := record.Uvarint(b[1:])
	if k <= 0 || l > engine.MaxNodeIDLen || uint64(len(b)-1-k) < l {
		return cc, fmt.Errorf("%w: bad membership request", ErrMembership)
	}
	cc.Node = engine.NodeID(b[1+k : 1+k+int(l)])
	cc.Addr = string(b[1+k+int(l):])
	return cc, nil
}
