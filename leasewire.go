package yggr

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The lease calls a node forwards to the leader (node.CallLeader): a
// keepalive or a time-to-live question. Both encodings start with a
// version byte; decoders reject anything the encoder would not write.
//
//	request:  version 1, op (1 keepalive, 2 time to live), uvarint lease ID
//	response: version 1, status (0 ok, 1 not found), uvarint TTL ms,
//	          uvarint remaining ms
const leaseWireVersion = 1

const (
	leaseOpKeepAlive  byte = 1
	leaseOpTimeToLive byte = 2
)

const (
	leaseStatusOK       byte = 0
	leaseStatusNotFound byte = 1
)

type leaseRequest struct {
	op byte
	id uint64
}

type leaseResponse struct {
	status         byte
	ttl, remaining uint64 // milliseconds
}

var errLeaseWire = errors.New("bad lease call encoding")

func encodeLeaseRequest(r leaseRequest) []byte {
	return binary.AppendUvarint([]byte{leaseWireVersion, r.op}, r.id)
}

func decodeLeaseRequest(b []byte) (leaseRequest, error) {
	if len(b) < 3 || b[0] != leaseWireVersion {
		return leaseRequest{}, fmt.Errorf("%w: short request or unknown version", errLeaseWire)
	}
	r := leaseRequest{op: b[1]}
	if r.op != leaseOpKeepAlive && r.op != leaseOpTimeToLive {
		return leaseRequest{}, fmt.Errorf("%w: unknown op %d", errLeaseWire, r.op)
	}
	var err error
	if r.id, err = wholeUvarint(b[2:]); err != nil || r.id == 0 {
		return leaseRequest{}, fmt.Errorf("%w: lease id", errLeaseWire)
	}
	return r, nil
}

func encodeLeaseResponse(r leaseResponse) []byte {
	b := binary.AppendUvarint([]byte{leaseWireVersion, r.status}, r.ttl)
	return binary.AppendUvarint(b, r.remaining)
}

func decodeLeaseResponse(b []byte) (leaseResponse, error) {
	if len(b) < 4 || b[0] != leaseWireVersion {
		return leaseResponse{}, fmt.Errorf("%w: short response or unknown version", errLeaseWire)
	}
	r := leaseResponse{status: b[1]}
	if r.status != leaseStatusOK && r.status != leaseStatusNotFound {
		return leaseResponse{}, fmt.Errorf("%w: unknown status %d", errLeaseWire, r.status)
	}
	rest := b[2:]
	ttl, n := binary.Uvarint(rest)
	if n <= 0 || (n > 1 && rest[n-1] == 0) {
		return leaseResponse{}, fmt.Errorf("%w: ttl", errLeaseWire)
	}
	var err error
	if r.remaining, err = wholeUvarint(rest[n:]); err != nil {
		return leaseResponse{}, fmt.Errorf("%w: remaining", errLeaseWire)
	}
	r.ttl = ttl
	return r, nil
}

// wholeUvarint decodes one canonical (shortest-form) uvarint that fills b.
func wholeUvarint(b []byte) (uint64, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) || (n > 1 && b[n-1] == 0) {
		return 0, errLeaseWire
	}
	return v, nil
}
