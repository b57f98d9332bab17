package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/yggrdb/yggr/internal/testutil"
)

// checkKeys fails unless node n holds key16(i) = value(i) for i in [lo, hi).
func checkKeys(t *testing.T, n *etcdNode, lo, hi int64) {
	t.Helper()
	for i := lo; i < hi; i++ {
		got, ok := n.local(key16(i))
		if want := fmt.Appendf(nil, "v%d", i); !ok || !bytes.Equal(got, want) {
			t.Fatalf("node %d key %d: got %q (present %v), want %q", n.id, i, got, ok, want)
		}
	}
}

// TestEtcdHarness checks the etcd harness end to end: writes through the
// leader are applied on every node, linearizable reads see them, a stopped
// follower restarts from its WAL and catches up, the cluster elects a new
// leader after the old one stops, and Close leaves no goroutine behind.
func TestEtcdHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster for a few seconds")
	}
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	s, err := startEtcd(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := func(lo, hi int64) {
		t.Helper()
		for i := lo; i < hi; i++ {
			if err := s.Put(ctx, key16(i), fmt.Appendf(nil, "v%d", i)); err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
		}
	}
	put(0, 200)
	l, err := s.leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A write returns once the leader applied it.
	checkKeys(t, s.nodes[l], 0, 200)
	commit := s.nodes[l].commit.Load()
	for _, n := range s.nodes {
		testutil.WaitFor(t, fmt.Sprintf("node %d applied %d", n.id, commit), func() bool { return n.applied.Load() >= commit })
		checkKeys(t, n, 0, 200)
	}
	for _, i := range []int64{0, 199} {
		v, ok, err := s.nodes[l].get(ctx, key16(i))
		if want := fmt.Appendf(nil, "v%d", i); err != nil || !ok || !bytes.Equal(v, want) {
			t.Fatalf("linearizable get %d: got %q, %v, %v; want %q", i, v, ok, err, want)
		}
	}
	if err := s.Read(ctx, "linearizable", key16(1_000_000)); err == nil {
		t.Fatal("read of a missing key: got no error, want key not found")
	}
	if err := s.Read(ctx, "stale", key16(1)); err != errUnsupported {
		t.Fatalf("stale read: got %v, want errUnsupported", err)
	}
	// A follower refuses writes at once (no forwarding).
	f := s.nodes[(l+1)%3]
	if err := f.put(ctx, key16(1), []byte("x")); err == nil {
		t.Fatal("put on a follower: got no error, want a dropped proposal")
	}

	restart, err := s.StopFollower(ctx)
	if err != nil {
		t.Fatal(err)
	}
	put(200, 700)
	total, open, err := restart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if total < open || open <= 0 {
		t.Fatalf("catch-up: total %v, open %v; want 0 < open <= total", total, open)
	}
	var restarted *etcdNode
	for _, n := range s.nodes {
		if n.id == f.id {
			restarted = n
		}
	}
	checkKeys(t, restarted, 0, 700)

	if _, err := s.Failover(ctx); err != nil {
		t.Fatal(err)
	}
	put(700, 750)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, fmt.Sprintf("goroutines back to %d", before), func() bool { return runtime.NumGoroutine() <= before })
}

// TestEtcdWALReplay checks that a reopened WAL returns the last hard state
// and the entries after overwrites, and that a torn tail is cut.
func TestEtcdWALReplay(t *testing.T) {
	ent := func(term, index uint64) *pb.Entry {
		return &pb.Entry{Term: new(term), Index: new(index), Data: fmt.Appendf(nil, "%d/%d", term, index)}
	}
	hs := func(term, commit uint64) *pb.HardState { return &pb.HardState{Term: new(term), Commit: new(commit)} }
	tests := []struct {
		name    string
		batches [][]*pb.Entry
		hs      []*pb.HardState
		tear    int // bytes cut from the end after writing
		want    []string
		wantHS  *pb.HardState
	}{
		{name: "empty"},
		{name: "append", batches: [][]*pb.Entry{{ent(1, 2), ent(1, 3)}, {ent(1, 4)}}, hs: []*pb.HardState{hs(1, 3), hs(1, 4)},
			want: []string{"1/2", "1/3", "1/4"}, wantHS: hs(1, 4)},
		{name: "overwrite", batches: [][]*pb.Entry{{ent(1, 2), ent(1, 3), ent(1, 4)}, {ent(2, 3)}}, hs: []*pb.HardState{hs(1, 2), hs(2, 3)},
			want: []string{"1/2", "2/3"}, wantHS: hs(2, 3)},
		{name: "overwrite first", batches: [][]*pb.Entry{{ent(1, 2), ent(1, 3)}, {ent(2, 2)}}, hs: []*pb.HardState{nil, nil},
			want: []string{"2/2"}},
		{name: "torn tail", batches: [][]*pb.Entry{{ent(1, 2)}, {ent(1, 3)}}, hs: []*pb.HardState{hs(1, 2), nil}, tear: 3,
			want: []string{"1/2"}, wantHS: hs(1, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wal")
			w, _, _, err := openEtcdWAL(path)
			if err != nil {
				t.Fatal(err)
			}
			for i, b := range tt.batches {
				if err := w.save(tt.hs[i], b, true); err != nil {
					t.Fatal(err)
				}
			}
			w.close()
			if tt.tear > 0 {
				fi, _ := os.Stat(path)
				if err := os.Truncate(path, fi.Size()-int64(tt.tear)); err != nil {
					t.Fatal(err)
				}
			}
			w, gotHS, ents, err := openEtcdWAL(path)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ents {
				got = append(got, string(e.GetData()))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("entries: got %v, want %v", got, tt.want)
			}
			if !proto.Equal(gotHS, tt.wantHS) {
				t.Errorf("hard state: got %v, want %v", gotHS, tt.wantHS)
			}
			// After a torn tail, a new record must follow the last good one.
			if err := w.save(nil, []*pb.Entry{ent(3, uint64(len(tt.want)+2))}, true); err != nil {
				t.Fatal(err)
			}
			w.close()
			w, _, ents, err = openEtcdWAL(path)
			if err != nil {
				t.Fatal(err)
			}
			w.close()
			if len(ents) != len(tt.want)+1 {
				t.Errorf("after one more append: got %d entries, want %d", len(ents), len(tt.want)+1)
			}
		})
	}
}

func walSeed(t testing.TB) []byte {
	var b []byte
	var err error
	for i := uint64(2); i < 5; i++ {
		if b, err = appendRecord(b, walKindEntry, &pb.Entry{Term: new(uint64(1)), Index: new(i), Data: encodeEtcdCmd(i, []byte("k"), []byte("v"))}); err != nil {
			t.Fatal(err)
		}
	}
	if b, err = appendRecord(b, walKindHardState, &pb.HardState{Term: new(uint64(1)), Commit: new(uint64(4))}); err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzEtcdWAL: replaying any bytes never panics and never claims more than
// it was given.
func FuzzEtcdWAL(f *testing.F) {
	seed := walSeed(f)
	f.Add(seed)
	f.Add(seed[:len(seed)-5])
	f.Add([]byte{0, 0, 0, 1, 2, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, ents, good, err := decodeWAL(data)
		if good > len(data) || good < 0 {
			t.Fatalf("good prefix %d of %d bytes", good, len(data))
		}
		if err == nil {
			for i := 1; i < len(ents); i++ {
				if ents[i].GetIndex() != ents[i-1].GetIndex()+1 {
					t.Fatalf("entries not contiguous: %d after %d", ents[i].GetIndex(), ents[i-1].GetIndex())
				}
			}
		}
	})
}

// FuzzEtcdFrame: decoding any frame or command never panics; a valid frame
// round-trips.
func FuzzEtcdFrame(f *testing.F) {
	m := &pb.Message{Type: new(pb.MsgApp), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3)),
		Entries: []*pb.Entry{{Term: new(uint64(3)), Index: new(uint64(7)), Data: encodeEtcdCmd(9, []byte("key"), []byte("value"))}}}
	frame, err := appendFrame(nil, m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(frame)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add(encodeEtcdCmd(1, []byte("k"), nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var buf []byte
		got, err := readFrame(bytes.NewReader(data), &buf)
		if err == nil && bytes.Equal(data, frame) && !proto.Equal(got, m) {
			t.Fatalf("round trip: got %v, want %v", got, m)
		}
		if _, k, v, err := decodeEtcdCmd(data); err == nil && len(k)+len(v) > len(data) {
			t.Fatalf("command of %d bytes decoded to %d+%d", len(data), len(k), len(v))
		}
	})
}
