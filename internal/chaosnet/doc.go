// Package chaosnet is an in-process twin of the QUIC transport for tests:
// real Nodes talk over it through the real codec (netquic's frames), while
// a test injects faults: loss, duplication, delay and reordering,
// partitions, one-way blocks and crashes.
//
// It lives apart from netquic so that no binary ships it: only tests import
// it (internal/lint forbids the root's own code to).
//
// # Usage
//
//	net := chaosnet.New(seed)
//	defer net.Close()
//	ep := net.Endpoint("n1") // the runtime's network for node n1
//	net.SetDrop(0.1)
//	net.Partition([]engine.NodeID{"n1"}, []engine.NodeID{"n2", "n3"})
//	net.Heal()
//
// # Caveats
//
//   - Random choices come from one seeded PCG in the order Send is called,
//     so a run repeats only as far as goroutine scheduling repeats.
//   - Call fails at once with ErrUnreachable across a partition, where a
//     real Transport would wait for ctx; drops and duplicates apply to Raft
//     messages only, as QUIC streams are reliable.
//   - A Net runs one delivery goroutine until its Close.
package chaosnet
