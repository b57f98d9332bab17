package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"sync"

	iradix "github.com/hashicorp/go-immutable-radix"
	"github.com/hashicorp/raft"
)

// radixFSM is the hashicorp state machine of the snapshot workload: an
// immutable radix tree (hashicorp/go-immutable-radix, what Consul's and
// Nomad's memdb build on), so that Snapshot only takes the current root
// and Persist walks a frozen tree while applies go on. The map FSM would
// copy every key while applies wait.
type radixFSM struct {
	mu   sync.Mutex
	tree *iradix.Tree
}

func newRadixFSM() *radixFSM { return &radixFSM{tree: iradix.New()} }

func (f *radixFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	txn := f.tree.Txn()
	var err error
	if len(l.Data) > 0 && l.Data[0] == 0 {
		err = forEachBatchPut(l.Data[1:], func(k, v []byte) { txn.Insert(bytes.Clone(k), bytes.Clone(v)) })
	} else {
		n, k := binary.Uvarint(l.Data)
		if k <= 0 || uint64(len(l.Data)-k) < n {
			return errors.New("bench: bad command")
		}
		txn.Insert(bytes.Clone(l.Data[k:k+int(n)]), bytes.Clone(l.Data[k+int(n):]))
	}
	f.tree = txn.Commit()
	if err != nil {
		return err
	}
	return nil
}

func (f *radixFSM) get(key []byte) ([]byte, bool) {
	f.mu.Lock()
	t := f.tree
	f.mu.Unlock()
	v, ok := t.Get(key)
	if !ok {
		return nil, false
	}
	return v.([]byte), true
}

// radixSnap is a frozen tree; Persist writes uvarint(len(key)) key
// uvarint(len(value)) value for every key, in key order.
type radixSnap struct{ tree *iradix.Tree }

func (f *radixFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return radixSnap{f.tree}, nil
}

func (s radixSnap) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 1<<20)
	var buf []byte
	var err error
	s.tree.Root().Walk(func(k []byte, v any) bool {
		val := v.([]byte)
		buf = binary.AppendUvarint(buf[:0], uint64(len(k)))
		buf = append(binary.AppendUvarint(append(buf, k...), uint64(len(val))), val...)
		_, err = w.Write(buf)
		return err != nil
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (radixSnap) Release() {}

func (f *radixFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 1<<20)
	txn := iradix.New().Txn()
	for {
		var kv [2][]byte
		for j := range kv {
			n, err := binary.ReadUvarint(r)
			if errors.Is(err, io.EOF) && j == 0 {
				f.mu.Lock()
				f.tree = txn.Commit()
				f.mu.Unlock()
				return nil
			}
			if err != nil {
				return err
			}
			if n > 64<<20 {
				return errors.New("bench: radix snapshot: record too large")
			}
			kv[j] = make([]byte, n)
			if _, err := io.ReadFull(r, kv[j]); err != nil {
				return err
			}
		}
		txn.Insert(kv[0], kv[1])
	}
}
