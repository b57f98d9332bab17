package yggr

import (
	"context"
	"fmt"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/node"
	"github.com/yggrdb/yggr/internal/opener"
)

// Package raft runs a caller's state machine on the same runtime as the
// DB. It opens its node through internal/opener, which this init fills.
func init() { opener.Open = openRaft }

// raftReplica is the replica package raft wraps. Its methods are what
// package raft asserts; they keep the DB's rules (membership checks,
// read consistency) by sharing the DB's code.
type raftReplica struct{ replica }

func openRaft(dir string, peers []string, sm node.StateMachine, opts any) (any, error) {
	list, ok := opts.([]Option)
	if !ok {
		return nil, fmt.Errorf("%w: options of type %T", ErrInvalid, opts)
	}
	o, err := parseOptions(list)
	if err != nil {
		return nil, err
	}
	r := &raftReplica{}
	if _, err := r.open(dir, peers, o, func(c *node.Config) { c.StateMachine = sm }); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *raftReplica) ID() string { return string(r.id) }

func (r *raftReplica) Propose(ctx context.Context, cmd []byte) ([]byte, uint64, error) {
	return r.node.Propose(ctx, cmd)
}

func (r *raftReplica) Read(ctx context.Context, opts []ReadOption) (uint64, error) {
	return r.barrier(ctx, readOpts(opts))
}

func (r *raftReplica) Status() Status { return r.status() }

func (r *raftReplica) WaitLeader(ctx context.Context) (string, error) {
	id, err := r.node.WaitLeader(ctx)
	return string(id), err
}

func (r *raftReplica) AddVoter(ctx context.Context, id, addr string) error {
	return r.change(ctx, engine.ConfAddVoter, id, addr)
}

func (r *raftReplica) AddLearner(ctx context.Context, id, addr string) error {
	return r.change(ctx, engine.ConfAddLearner, id, addr)
}

func (r *raftReplica) Promote(ctx context.Context, id string) error {
	return r.change(ctx, engine.ConfPromote, id, "")
}

func (r *raftReplica) RemoveMember(ctx context.Context, id string) error {
	return r.change(ctx, engine.ConfRemove, id, "")
}

func (r *raftReplica) TransferLeadership(ctx context.Context, id string) error {
	return r.node.TransferLeadership(ctx, engine.NodeID(id))
}

func (r *raftReplica) Snapshot(ctx context.Context) (uint64, error) {
	meta, err := r.node.Snapshot(ctx)
	return meta.Index, err
}

func (r *raftReplica) Close() error { return r.close() }
