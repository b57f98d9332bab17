package snapshot

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/yggrdb/yggr/engine"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenManifest and goldenProgress are locked in testdata: any change to
// the disk format shows as a reviewed diff of the golden files.
var (
	goldenManifest = &manifest{
		Index:      17,
		Term:       3,
		Membership: engine.NewMembership([]engine.NodeID{"n1", "n2", "n3"}, []engine.NodeID{"n4"}),
		Size:       2500,
		ChunkBytes: 1024,
		CRCs:       []uint32{0x01020304, 0xa0b0c0d0, 0xdeadbeef},
		SHA256:     [32]byte{0: 0xaa, 31: 0x55},
	}
	goldenProgress = &progress{
		Index:      17,
		Term:       3,
		Membership: engine.NewMembership([]engine.NodeID{"n1"}, nil),
		Size:       2500,
		ChunkBytes: 1024,
		Offset:     1500,
		CRCs:       []uint32{0x01020304, 0x0badf00d},
	}
)

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encoding differs from %s:\ngot  %x\nwant %x", path, got, want)
	}
}

func TestManifestGolden(t *testing.T) {
	b := goldenManifest.encode()
	checkGolden(t, "manifest-v1.golden", b)
	m, err := decodeManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(goldenManifest, m); diff != "" {
		t.Errorf("decoded manifest (-want +got):\n%s", diff)
	}
}

func TestProgressGolden(t *testing.T) {
	b := goldenProgress.encode()
	checkGolden(t, "progress-v1.golden", b)
	p, err := decodeProgress(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(goldenProgress, p); diff != "" {
		t.Errorf("decoded progress (-want +got):\n%s", diff)
	}
}

func TestManifestRoundTrip(t *testing.T) {
	tests := []*manifest{
		{ChunkBytes: 1, CRCs: []uint32{}},
		{Index: 1, Term: 1, Size: 1, ChunkBytes: 1, CRCs: []uint32{7}},
		{Index: ^uint64(0), Term: ^uint64(0), Size: 10, ChunkBytes: 3, CRCs: []uint32{1, 2, 3, 4},
			Membership: engine.NewMembership(nil, []engine.NodeID{"learner"})},
		{Size: MaxChunkBytes, ChunkBytes: MaxChunkBytes, CRCs: []uint32{9}, Membership: members},
	}
	for _, m := range tests {
		got, err := decodeManifest(m.encode())
		if err != nil {
			t.Errorf("decode(encode(%+v)): %v", m, err)
			continue
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

// frame wraps body in version and kind bytes and a valid checksum.
func frame(kind byte, body []byte) []byte {
	b := append([]byte{formatVersion, kind}, body...)
	return binary.BigEndian.AppendUint32(b, crc32c(b))
}

// manifestBody builds a manifest body field by field.
func manifestBody(size uint64, chunkBytes, count uint32, membership []byte, crcs int, hashBytes int) []byte {
	b := binary.BigEndian.AppendUint64(nil, 1)
	b = binary.BigEndian.AppendUint64(b, 1)
	b = binary.BigEndian.AppendUint64(b, size)
	b = binary.BigEndian.AppendUint32(b, chunkBytes)
	b = binary.BigEndian.AppendUint32(b, count)
	b = append(b, membership...)
	b = append(b, make([]byte, 4*crcs)...)
	return append(b, make([]byte, hashBytes)...)
}

func TestDecodeManifestErrors(t *testing.T) {
	noMembers := []byte{0, 0, 0, 0}
	good := frame(kindManifest, manifestBody(10, 4, 3, noMembers, 3, 32))
	if _, err := decodeManifest(good); err != nil {
		t.Fatalf("the valid base case fails: %v", err)
	}
	badChecksum := bytes.Clone(good)
	badChecksum[len(badChecksum)-1] ^= 1
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"too short", []byte{1, 1, 0, 0, 0}},
		{"bad version", append([]byte{2}, good[1:]...)},
		{"bad kind", frame(kindProgress, manifestBody(10, 4, 3, noMembers, 3, 32))},
		{"bad checksum", badChecksum},
		{"truncated header", frame(kindManifest, manifestBody(10, 4, 3, nil, 0, 0)[:20])},
		{"zero chunk size", frame(kindManifest, manifestBody(10, 0, 3, noMembers, 3, 32))},
		{"chunk size too large", frame(kindManifest, manifestBody(10, MaxChunkBytes+1, 1, noMembers, 1, 32))},
		{"too few chunks", frame(kindManifest, manifestBody(10, 4, 2, noMembers, 2, 32))},
		{"too many chunks", frame(kindManifest, manifestBody(10, 4, 4, noMembers, 4, 32))},
		{"huge chunk count", frame(kindManifest, manifestBody(1<<31, 1, 1<<31, noMembers, 0, 32))},
		{"missing crcs", frame(kindManifest, manifestBody(10, 4, 3, noMembers, 2, 32))},
		{"missing hash", frame(kindManifest, manifestBody(10, 4, 3, noMembers, 3, 31))},
		{"trailing bytes", frame(kindManifest, manifestBody(10, 4, 3, noMembers, 3, 33))},
		{"unsorted voters", frame(kindManifest, manifestBody(10, 4, 3, []byte{0, 2, 1, 'b', 1, 'a', 0, 0}, 3, 32))},
		{"bad node id", frame(kindManifest, manifestBody(10, 4, 3, []byte{0, 1, 1, ' ', 0, 0}, 3, 32))},
		{"empty node id", frame(kindManifest, manifestBody(10, 4, 3, []byte{0, 1, 0, 0, 0}, 3, 32))},
		{"voter is learner", frame(kindManifest, manifestBody(10, 4, 3, []byte{0, 1, 1, 'a', 0, 1, 1, 'a'}, 3, 32))},
		{"truncated id", frame(kindManifest, manifestBody(10, 4, 3, []byte{0, 1, 9, 'a'}, 0, 0))},
		{"huge member count", frame(kindManifest, manifestBody(10, 4, 3, []byte{0xff, 0xff}, 3, 32))},
	}
	for _, tt := range tests {
		if m, err := decodeManifest(tt.b); err == nil {
			t.Errorf("%s: decodeManifest: got %+v, nil, want an error", tt.name, m)
		}
	}
}

func TestDecodeProgressErrors(t *testing.T) {
	body := func(size, offset uint64, chunkBytes, count uint32, crcs int) []byte {
		b := binary.BigEndian.AppendUint64(nil, 1)
		b = binary.BigEndian.AppendUint64(b, 1)
		b = binary.BigEndian.AppendUint64(b, size)
		b = binary.BigEndian.AppendUint32(b, chunkBytes)
		b = binary.BigEndian.AppendUint64(b, offset)
		b = binary.BigEndian.AppendUint32(b, count)
		b = append(b, 0, 0, 0, 0)
		return append(b, make([]byte, 4*crcs)...)
	}
	if _, err := decodeProgress(frame(kindProgress, body(10, 5, 4, 2, 2))); err != nil {
		t.Fatalf("the valid base case fails: %v", err)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"manifest kind", frame(kindManifest, body(10, 5, 4, 2, 2))},
		{"zero chunk size", frame(kindProgress, body(10, 5, 0, 2, 2))},
		{"offset beyond size", frame(kindProgress, body(10, 11, 4, 3, 3))},
		{"count mismatch", frame(kindProgress, body(10, 5, 4, 1, 1))},
		{"missing crcs", frame(kindProgress, body(10, 5, 4, 2, 1))},
		{"trailing bytes", frame(kindProgress, body(10, 5, 4, 2, 3))},
		{"huge count", frame(kindProgress, body(0, 1<<31, 1, 1<<31, 0))},
	}
	for _, tt := range tests {
		if p, err := decodeProgress(tt.b); err == nil {
			t.Errorf("%s: decodeProgress: got %+v, nil, want an error", tt.name, p)
		}
	}
}

// FuzzDecodeManifest: decoding arbitrary bytes never panics, and whatever
// decodes re-encodes to the same bytes.
func FuzzDecodeManifest(f *testing.F) {
	f.Add(goldenManifest.encode())
	f.Add((&manifest{ChunkBytes: 1}).encode())
	f.Add([]byte{})
	f.Add([]byte{formatVersion, kindManifest, 0, 0, 0, 0})
	f.Add(frame(kindManifest, manifestBody(10, 4, 3, []byte{0, 2, 1, 'a', 1, 'b', 0, 0}, 3, 32)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeManifest(b)
		if err != nil {
			return
		}
		if got := m.encode(); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\ngot  %x\nwant %x", got, b)
		}
		if uint64(len(m.CRCs)) != chunkCount(m.Size, m.ChunkBytes) {
			t.Fatalf("decoded %d CRCs for size %d and chunk size %d", len(m.CRCs), m.Size, m.ChunkBytes)
		}
	})
}

// FuzzDecodeProgress: decoding arbitrary bytes never panics, and whatever
// decodes re-encodes to the same bytes.
func FuzzDecodeProgress(f *testing.F) {
	f.Add(goldenProgress.encode())
	f.Add((&progress{ChunkBytes: 1}).encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeProgress(b)
		if err != nil {
			return
		}
		if got := p.encode(); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\ngot  %x\nwant %x", got, b)
		}
	})
}
