package yggr

import (
	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/node"
)

// Histogram is a latency (seconds) or size distribution: Counts[i]
// observations were at most Bounds[i] (the last bound is +Inf).
//
//	type Histogram struct {
//		Bounds []float64 // upper bounds of the buckets
//		Counts []uint64  // observations per bucket
//		Count  uint64    // observations in all
//		Sum    float64   // sum of the observed values
//	}
type Histogram = node.HistogramSnapshot

// Metrics is a snapshot of a node's counters and gauges.
type Metrics struct {
	// Engine counters since start.
	ElectionsStarted, ElectionsWon                    uint64
	PreVotesStarted, PreVotesGranted, PreVotesDenied  uint64
	VotesGranted, VotesDenied                         uint64
	AppendsSent, AppendsReceived, AppendsRejected     uint64
	EntriesAppended, EntriesCommitted, EntriesApplied uint64
	SnapshotsSent, SnapshotsInstalled                 uint64
	ReadsStarted, ReadsCompleted, ReadsFailed         uint64
	ProposalsRejected, TransfersStarted               uint64
	Forwarded                                         uint64
	// EntriesFilled counts entries the leader read back from its log for
	// followers behind the entries it keeps in memory.
	EntriesFilled uint64

	// Gauges.
	Term, Commit, Applied, LastIndex, SnapshotIndex uint64
	LogEntries                                      uint64
	Role                                            Role
	IsLeader                                        bool
	ApplyLag                                        int
	// DiskFreeBytes is the free space of the data directory's file system
	// as last read (0 if unknown), DiskReserveBytes the reserve below which
	// the node refuses writes as leader (0: no check; WithDiskReserve).
	DiskFreeBytes, DiskReserveBytes uint64
	// PeerHandshakeFailures counts refused peer TLS handshakes in both
	// directions (a wrong cluster secret or CA, a newer wire version,
	// an unknown peer); PeerBadFrames counts undecodable frames received
	// from peers. Both only grow.
	PeerHandshakeFailures, PeerBadFrames uint64
	// PeerWireVersions maps each connected peer to the wire version its
	// connection negotiated (1: a node of the release before wire
	// version 2). A rolling upgrade is over on the wire when every peer of
	// every node reports the newest version; docs/upgrades.md.
	PeerWireVersions map[string]int
	Followers        []FollowerStatus

	// Latencies (seconds) and sizes.
	ProposeSeconds, ReadSeconds, FsyncSeconds, ApplySeconds, SnapshotSeconds Histogram
	// The stages of ProposeSeconds, for writes proposed on this node (the
	// leader): waiting for the driver to append the write, replication
	// until the driver sees it committed (the leader's sync and a
	// majority's acknowledgements), waiting for the apply goroutine, and
	// applying its batch and waking the caller.
	ProposeQueueSeconds, ProposeCommitSeconds, ProposeApplySeconds, ProposeReplySeconds Histogram
	BatchSize                                                                           Histogram
}

// Metrics returns the node's counters and gauges.
func (db *DB) Metrics() Metrics {
	st := db.node.Status()
	rm := db.node.Metrics()
	c := st.Counters
	m := Metrics{
		ElectionsStarted: c.ElectionsStarted, ElectionsWon: c.ElectionsWon,
		PreVotesStarted: c.PreVotesStarted, PreVotesGranted: c.PreVotesGranted, PreVotesDenied: c.PreVotesDenied,
		VotesGranted: c.VotesGranted, VotesDenied: c.VotesDenied,
		AppendsSent: c.AppendsSent, AppendsReceived: c.AppendsReceived, AppendsRejected: c.AppendsRejected,
		EntriesAppended: c.EntriesAppended, EntriesCommitted: c.EntriesCommitted, EntriesApplied: rm.EntriesApplied,
		SnapshotsSent: c.SnapshotsSent, SnapshotsInstalled: c.SnapshotsInstalled,
		ReadsStarted: c.ReadsStarted, ReadsCompleted: c.ReadsCompleted, ReadsFailed: c.ReadsFailed,
		ProposalsRejected: c.ProposalsRejected, TransfersStarted: c.TransfersStarted,
		Forwarded: rm.Forwarded, EntriesFilled: rm.EntriesFilled,
		Term: st.Term, Commit: st.Commit, Applied: st.Applied, LastIndex: st.LastIndex, SnapshotIndex: st.SnapshotIndex,
		LogEntries: st.LastIndex - st.FirstIndex + 1,
		Role:       roleOf(st.Role), IsLeader: st.Role == engine.Leader,
		ApplyLag:      rm.ApplyLag,
		DiskFreeBytes: rm.DiskFreeBytes, DiskReserveBytes: rm.DiskReserveBytes,
		ProposeSeconds: rm.ProposeSeconds, ReadSeconds: rm.ReadSeconds, FsyncSeconds: rm.FsyncSeconds,
		ApplySeconds: rm.ApplySeconds, SnapshotSeconds: rm.SnapshotSeconds, BatchSize: rm.BatchSize,
		ProposeQueueSeconds: rm.StageQueueSeconds, ProposeCommitSeconds: rm.StageCommitSeconds,
		ProposeApplySeconds: rm.StageApplySeconds, ProposeReplySeconds: rm.StageReplySeconds,
	}
	if db.net != nil { // nil on a single node
		nm := db.net.Metrics()
		m.PeerHandshakeFailures, m.PeerBadFrames = nm.HandshakeFailures, nm.BadFrames
		for id, pm := range nm.Peers {
			if pm.Connected && pm.WireVersion != 0 {
				if m.PeerWireVersions == nil {
					m.PeerWireVersions = make(map[string]int, len(nm.Peers))
				}
				m.PeerWireVersions[string(id)] = pm.WireVersion
			}
		}
	}
	for _, f := range st.Followers {
		m.Followers = append(m.Followers, FollowerStatus{ID: string(f.ID), Match: f.Match, Next: f.Next,
			State: f.State.String(), Learner: f.Learner, Active: f.Active})
	}
	return m
}
