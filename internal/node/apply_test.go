package node

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/yggrdb/yggr/engine"
)

// bytesMachine is a state machine whose state is a byte string.
type bytesMachine struct{ state []byte }

func (m *bytesMachine) Apply(index uint64, cmd []byte) []byte {
	m.state = append(m.state, cmd...)
	return nil
}

type writerTo []byte

func (w writerTo) WriteTo(dst io.Writer) (int64, error) {
	n, err := dst.Write(w)
	return int64(n), err
}

func (m *bytesMachine) Snapshot() (io.WriterTo, error) { return writerTo(bytes.Clone(m.state)), nil }

func (m *bytesMachine) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.state = b
	return nil
}

func TestSnapshotStreamRoundTrip(t *testing.T) {
	book := map[engine.NodeID]string{"n1": "127.0.0.1:1", "n2": "127.0.0.1:2"}
	var buf bytes.Buffer
	if err := writeSnapshotStream(&buf, book, writerTo("state")); err != nil {
		t.Fatal(err)
	}
	m := &bytesMachine{}
	got, err := readSnapshotStream(bytes.NewReader(buf.Bytes()), m)
	if err != nil || string(m.state) != "state" || got["n2"] != "127.0.0.1:2" {
		t.Fatalf("got %v %q %v", got, m.state, err)
	}
}

func FuzzReadSnapshotStream(f *testing.F) {
	var buf bytes.Buffer
	writeSnapshotStream(&buf, map[engine.NodeID]string{"n1": "a"}, writerTo("xyz"))
	f.Add(buf.Bytes())
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := &bytesMachine{}
		if _, err := readSnapshotStream(bytes.NewReader(b), m); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}
