package main

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"
)

type bufSink struct{ bytes.Buffer }

func (*bufSink) ID() string    { return "test" }
func (*bufSink) Cancel() error { return nil }
func (*bufSink) Close() error  { return nil }

// TestRadixFSMSnapshot applies single and batch puts, persists a snapshot,
// applies more, and checks that a restored FSM has exactly the snapshot's
// state.
func TestRadixFSMSnapshot(t *testing.T) {
	f := newRadixFSM()
	apply := func(data []byte) {
		t.Helper()
		if r := f.Apply(&raft.Log{Type: raft.LogCommand, Data: data}); r != nil {
			t.Fatalf("apply: got %v, want nil", r)
		}
	}
	apply(encodeCmd([]byte("a"), []byte("1")))
	batch := []byte{0, 2}
	for _, kv := range [][2]string{{"b", "2"}, {"c", ""}} {
		batch = append(append(batch, byte(len(kv[0]))), kv[0]...)
		batch = append(append(batch, byte(len(kv[1]))), kv[1]...)
	}
	apply(batch)
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	apply(encodeCmd([]byte("a"), []byte("changed after the snapshot")))
	var sink bufSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := newRadixFSM()
	if err := g.Restore(io.NopCloser(&sink.Buffer)); err != nil {
		t.Fatal(err)
	}
	var got []string
	g.tree.Root().Walk(func(k []byte, v any) bool {
		got = append(got, fmt.Sprintf("%s=%s", k, v))
		return false
	})
	if want := "[a=1 b=2 c=]"; fmt.Sprint(got) != want {
		t.Errorf("restored state: got %v, want %s", got, want)
	}
	if v, ok := f.get([]byte("a")); !ok || string(v) != "changed after the snapshot" {
		t.Errorf("live get a: got %q, %v; want the value written after the snapshot", v, ok)
	}
	if r := f.Apply(&raft.Log{Type: raft.LogCommand, Data: []byte{0, 1, 5}}); r == nil {
		t.Error("truncated batch: got nil, want an error")
	}
}
