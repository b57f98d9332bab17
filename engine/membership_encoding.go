package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxMembers bounds each list of a Membership (voters, learners):
// Validate refuses a longer list and DecodeMembership bounds the counts it
// reads by it, so every membership that is written can be read back.
const MaxMembers = 1024

// AppendMembership appends the encoding of m to b and returns the extended
// slice: for the voters and then the learners, a uvarint count followed by
// each ID as a uvarint length and its bytes. It is yggr's one encoding of a
// membership, used by config entries, the log's snapshot record and
// snapshot manifests. m must be valid (see Validate).
func AppendMembership(b []byte, m Membership) []byte {
	b = appendIDs(b, m.Voters)
	return appendIDs(b, m.Learners)
}

// DecodeMembership decodes a membership written by AppendMembership from
// the front of b and returns it with the number of bytes it took. The
// membership is validated; bad input is an error, never a panic, and no
// count is trusted before the bytes to back it are there.
func DecodeMembership(b []byte) (Membership, int, error) {
	var m Membership
	rest := b
	var err error
	if m.Voters, rest, err = readIDs(rest); err != nil {
		return Membership{}, 0, err
	}
	if m.Learners, rest, err = readIDs(rest); err != nil {
		return Membership{}, 0, err
	}
	if err := m.Validate(); err != nil {
		return Membership{}, 0, err
	}
	return m, len(b) - len(rest), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendIDs(b []byte, ids []NodeID) []byte {
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendString(b, string(id))
	}
	return b
}

var (
	errBadString = errors.New("engine: bad string in membership or config entry")
	errBadCount  = errors.New("engine: bad member list")
)

// uvarint decodes a canonical uvarint (the shortest encoding of its value,
// as binary.AppendUvarint writes it), so that whatever decodes re-encodes
// to the same bytes; k <= 0 means b does not start with one.
func uvarint(b []byte) (v uint64, k int) {
	v, k = binary.Uvarint(b)
	if k > 1 && b[k-1] == 0 {
		return 0, -k // a padded encoding
	}
	return v, k
}

func readString(b []byte, max int) (string, []byte, error) {
	n, k := uvarint(b)
	if k <= 0 || n > uint64(max) || n > uint64(len(b)-k) {
		return "", nil, errBadString
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}

// readIDs reads a uvarint count and that many IDs. Each ID takes at least
// two bytes, so the count is bounded by the bytes left before anything is
// allocated.
func readIDs(b []byte) ([]NodeID, []byte, error) {
	n, k := uvarint(b)
	if k <= 0 || n > MaxMembers || n > uint64(len(b)-k)/2 {
		return nil, nil, fmt.Errorf("%w (count %d, %d bytes)", errBadCount, n, len(b))
	}
	b = b[k:]
	if n == 0 {
		return nil, b, nil
	}
	ids := make([]NodeID, 0, n)
	for range n {
		s, rest, err := readString(b, MaxNodeIDLen)
		if err != nil {
			return nil, nil, err
		}
		ids = append(ids, NodeID(s))
		b = rest
	}
	return ids, b, nil
}

// DecodeMembershipV1 decodes the membership layout of yggr v0.1's disk
// formats (log format 1, snapshot manifest version 1), which are still
// read to migrate them and never written: for the voters and then the
// learners, a big-endian uint16 count and each ID as a one-byte length and
// its bytes. Like DecodeMembership it returns the bytes taken, validates
// the membership, and bounds every count before allocating.
func DecodeMembershipV1(b []byte) (Membership, int, error) {
	var lists [2][]NodeID
	off := 0
	for i := range lists {
		if len(b)-off < 2 {
			return Membership{}, 0, fmt.Errorf("%w (truncated count)", errBadCount)
		}
		n := int(b[off])<<8 | int(b[off+1])
		off += 2
		// Each ID takes at least two bytes: its length and one character.
		if n > MaxMembers || n > (len(b)-off)/2 {
			return Membership{}, 0, fmt.Errorf("%w (count %d, %d bytes)", errBadCount, n, len(b)-off)
		}
		for range n {
			if off == len(b) {
				return Membership{}, 0, errBadString
			}
			l := int(b[off])
			if l > MaxNodeIDLen || l > len(b)-off-1 {
				return Membership{}, 0, errBadString
			}
			lists[i] = append(lists[i], NodeID(b[off+1:off+1+l]))
			off += 1 + l
		}
	}
	m := Membership{Voters: lists[0], Learners: lists[1]}
	if err := m.Validate(); err != nil {
		return Membership{}, 0, err
	}
	return m, off, nil
}
