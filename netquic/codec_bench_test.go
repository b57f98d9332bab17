package netquic

import (
	"bytes"
	"testing"

	"github.com/yggrdb/yggr/engine"
)

// codecBenchMessages are the messages of the hot path (heartbeats,
// AppendEntries) and a snapshot chunk.
func codecBenchMessages() []struct {
	name string
	m    engine.Message
} {
	entries := make([]engine.Entry, 64)
	for i := range entries {
		entries[i] = engine.Entry{Term: 3, Index: uint64(100 + i), Data: make([]byte, 100)}
	}
	mem := engine.NewMembership([]engine.NodeID{"n1", "n2", "n3"}, []engine.NodeID{"n4"})
	return []struct {
		name string
		m    engine.Message
	}{
		{"heartbeat", engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 3, Commit: 17, Context: 42}},
		{"app-1", smallApp(17)},
		{"app-64", engine.Message{Type: engine.MsgApp, From: "n1", To: "n2", Term: 3, PrevIndex: 99, PrevTerm: 3, Commit: 99, Entries: entries}},
		{"snap-64KiB", engine.Message{Type: engine.MsgSnap, From: "n1", To: "n2", Term: 3, Snapshot: engine.SnapshotMeta{Index: 1000, Term: 2, Membership: mem, Size: 1 << 20}, Data: bytes.Repeat([]byte{1}, 64<<10)}},
	}
}

// BenchmarkCodecEncode measures AppendMessage into a reused buffer.
func BenchmarkCodecEncode(b *testing.B) {
	for _, c := range codecBenchMessages() {
		b.Run(c.name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for range b.N {
				var err error
				if buf, err = AppendMessage(buf[:0], &c.m, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkCodecDecode measures DecodeMessage.
func BenchmarkCodecDecode(b *testing.B) {
	for _, c := range codecBenchMessages() {
		b.Run(c.name, func(b *testing.B) {
			f, err := AppendMessage(nil, &c.m, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(f)))
			b.ReportAllocs()
			for range b.N {
				if _, err := DecodeMessage(f, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
