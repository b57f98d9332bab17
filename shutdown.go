package yggr

import (
	"context"
	"time"
)

// Shutdown closes the node gracefully: if it leads a cluster that has
// other voters, it first hands its leadership off (HandOff), so that the
// others do not wait an election timeout to notice that their leader left
// (a rolling restart then pauses writes for a round trip or two, not for
// an election); then it closes as Close does. ctx bounds the hand-off
// only: a hand-off that fails or runs out of time is logged, and the node
// closes anyway. Shutdown returns Close's error.
//
// Close stops at once, as a crash would (the cluster elects a new leader
// after an election timeout); use Shutdown to stop a node on purpose.
func (db *DB) Shutdown(ctx context.Context) error {
	if to, err := db.HandOff(ctx); err != nil {
		db.logger.Warn("could not hand leadership to another voter before closing", "node", db.ID(), "err", err)
	} else if to != "" {
		db.logger.Info("handed leadership to another voter before closing", "node", db.ID(), "leader", to)
	}
	return db.Close()
}

// HandOff hands this node's leadership, if it leads a cluster that has
// other voters, to one of them (as TransferLeadership with no id: the one
// with the longest log among those that answer), waits until that voter
// leads, and returns its ID. A node that does not lead, a single voter, and
// a node whose disk failed do nothing and return "". Shutdown uses it; a
// server that must keep serving while it hands off (as `yggr serve` does,
// forwarding requests to the new leader while its HTTP server drains) calls
// it before Close.
func (db *DB) HandOff(ctx context.Context) (string, error) {
	st := db.Status()
	voters := 0
	for _, m := range st.Members {
		if m.Voter {
			voters++
		}
	}
	if st.Role != RoleLeader || voters < 2 || st.StorageError != "" {
		return "", nil
	}
	if err := db.TransferLeadership(ctx, ""); err != nil {
		return "", err
	}
	return db.Status().Leader, nil
}

// handOffTarget picks the voter TransferLeadership(ctx, "") hands
// leadership to: of the voters other than the leader, the one with the
// longest log among those that answer ClusterStatus within an election
// timeout, or "" (the leader's engine chooses) if none does. Asking
// matters: the leader's engine counts a voter that stopped moments ago as
// active and as up to date as when it stopped, and a transfer to it would
// fail only after an election timeout.
func (db *DB) handOffTarget(ctx context.Context) string {
	leader := db.Status().Leader
	actx, cancel := context.WithTimeout(ctx, time.Duration(db.opts.electionTks)*db.opts.tick)
	defer cancel()
	var to string
	var last uint64
	for _, m := range db.ClusterStatus(actx) {
		if m.Voter && m.Reachable && m.ID != leader && (to == "" || m.LastIndex > last) {
			to, last = m.ID, m.LastIndex
		}
	}
	return to
}
