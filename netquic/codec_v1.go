package netquic

import "github.com/yggrdb/yggr/engine"

// Wire version 1, for rolling upgrades; delete when version 1 is dropped
// (this file, versionV1's uses, alpnV1 in protocols and testdata/v1).
//
// A release that changes the wire format also speaks the previous one, for
// one release, to the nodes that offer only that (docs/upgrades.md).
// Version 1 differs from Version 2 only in a message's snapshot metadata:
// five fields, the membership as two msgpack arrays of node IDs (voters,
// learners) instead of one bin holding engine.AppendMembership's bytes.

// versionV1 is the frame version byte of wire version 1.
const versionV1 = 1

// alpnV1 is the application protocol of wire version 1.
const alpnV1 = "yggr/1"

// snapshotFieldsV1: Index, Term, Voters, Learners, Size.
const snapshotFieldsV1 = 5

func (e *bodyEncoder) snapshotV1(s *engine.SnapshotMeta) {
	e.array(snapshotFieldsV1)
	e.uint(s.Index)
	e.uint(s.Term)
	for _, ids := range [][]engine.NodeID{s.Membership.Voters, s.Membership.Learners} {
		e.array(len(ids))
		for _, id := range ids {
			e.str(string(id))
		}
	}
	e.uint(s.Size)
}

func (d *bodyDecoder) snapshotV1(s *engine.SnapshotMeta) error {
	if err := d.fixedArray(snapshotFieldsV1, "snapshot"); err != nil {
		return err
	}
	var err error
	if s.Index, err = d.uint(); err != nil {
		return err
	}
	if s.Term, err = d.uint(); err != nil {
		return err
	}
	if s.Membership.Voters, err = d.idsV1(); err != nil {
		return err
	}
	if s.Membership.Learners, err = d.idsV1(); err != nil {
		return err
	}
	if err := s.Membership.Validate(); err != nil {
		return badf("snapshot membership: %v", err)
	}
	s.Size, err = d.uint()
	return err
}

// idsV1 reads an array of node IDs of at most engine.MaxMembers, the limit
// engine.DecodeMembership applies in version 2.
func (d *bodyDecoder) idsV1() ([]engine.NodeID, error) {
	n, err := d.array(2) // an ID takes at least two bytes: bin8 header and length
	if err != nil {
		return nil, err
	}
	if n > engine.MaxMembers {
		return nil, badf("membership of %d nodes exceeds %d", n, engine.MaxMembers)
	}
	if n == 0 {
		return nil, nil
	}
	ids := make([]engine.NodeID, n)
	for i := range ids {
		if ids[i], err = d.nodeID("member"); err != nil {
			return nil, err
		}
	}
	return ids, nil
}
