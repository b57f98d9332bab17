package raft_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/yggrdb/yggr/raft"
)

// register is the smallest useful state machine: the last value written.
type register struct {
	mu    sync.Mutex
	value []byte
}

func (r *register) Apply(index uint64, cmd []byte) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.value
	r.value = bytes.Clone(cmd) // cmd is not ours to keep
	return old                 // the result: the value it replaced
}

func (r *register) Snapshot() (io.WriterTo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.NewReader(r.value), nil // value is never modified in place
}

func (r *register) Restore(rd io.Reader) error {
	v, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.value = v
	return nil
}

func (r *register) get() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.value)
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "raft-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	sm := &register{}
	n, err := raft.Open(dir, nil, sm) // a single node: no peers, no network
	if err != nil {
		panic(err)
	}
	defer n.Close()
	if _, _, err := n.Propose(ctx, []byte("first")); err != nil {
		panic(err)
	}
	old, _, err := n.Propose(ctx, []byte("second"))
	if err != nil {
		panic(err)
	}
	if _, err := n.Read(ctx); err != nil { // linearizable: sm has applied every acknowledged write
		panic(err)
	}
	fmt.Printf("replaced %q, now %q\n", old, sm.get())
	// Output: replaced "first", now "second"
}
