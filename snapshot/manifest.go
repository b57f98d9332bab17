package snapshot

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/record"
)

// Disk format, version 2 (written) and 1 (read). Integers are big-endian
// and fixed-width, except in the version 2 membership (engine's encoding,
// with uvarints).
//
// manifest:
//
//	u8  version (2)      u8  kind (kindManifest)
//	u64 index            u64 term            u64 size (bytes)
//	u32 chunk bytes      u32 chunk count
//	membership           (see below)
//	u32 × chunk count    CRC-32C of each chunk file
//	[32]byte             SHA-256 of the whole snapshot
//	u32                  CRC-32C of everything above
//
// The chunk count must be ceil(size / chunk bytes): every chunk file but
// the last holds exactly chunk bytes, the last holds the remainder.
//
// The two versions differ only in the membership (of the manifest and of
// the progress record, progress.go):
//
//   - version 2: engine.AppendMembership, yggr's one encoding of a
//     membership (uvarint counts and lengths), in its canonical form.
//   - version 1 (yggr v0.1): for the voters and then the learners, a u16
//     count and each ID as a u8 length and its bytes.
//
// Version 1 files are still read, since a node upgraded from v0.1 keeps
// its snapshots (and perhaps an interrupted receive); they are never
// rewritten, except that a resumed receive saves its progress as version
// 2. Any other version is refused.
const (
	formatV1 = 1
	formatV2 = 2

	// formatVersion is the version this code writes.
	formatVersion = formatV2

	kindManifest = 1
	kindProgress = 2

	// MaxChunkBytes bounds Options.ChunkBytes and the chunk size a manifest
	// may declare.
	MaxChunkBytes = 64 << 20

	// maxMetaFileBytes bounds how much of a manifest or progress file is
	// read before decoding (a 1 TiB snapshot of 1 MiB chunks needs 4 MiB of
	// CRCs).
	maxMetaFileBytes = 16 << 20
)

// manifest describes one complete snapshot.
type manifest struct {
	Index      uint64
	Term       uint64
	Membership engine.Membership
	Size       uint64
	ChunkBytes uint32
	CRCs       []uint32 // one per chunk file
	SHA256     [sha256.Size]byte
}

// meta returns the snapshot's metadata with Size set.
func (m *manifest) meta() engine.SnapshotMeta {
	return engine.SnapshotMeta{Index: m.Index, Term: m.Term, Membership: m.Membership.Clone(), Size: m.Size}
}

// chunkLen is the length of chunk i.
func (m *manifest) chunkLen(i int) int {
	return chunkLen(m.Size, m.ChunkBytes, i)
}

func chunkLen(size uint64, chunkBytes uint32, i int) int {
	start := uint64(i) * uint64(chunkBytes)
	if start >= size {
		return 0
	}
	return int(min(size-start, uint64(chunkBytes)))
}

// bufBytes is the size of a buffer that holds any chunk: the chunk size,
// or less for a snapshot smaller than one chunk.
func (m *manifest) bufBytes() int { return int(min(uint64(m.ChunkBytes), m.Size)) }

// chunkCount is ceil(size / chunkBytes).
func chunkCount(size uint64, chunkBytes uint32) uint64 {
	n := size / uint64(chunkBytes)
	if size%uint64(chunkBytes) != 0 {
		n++
	}
	return n
}

// encode returns the manifest's bytes, checksum included.
func (m *manifest) encode() []byte {
	b := make([]byte, 0, 64+4*len(m.CRCs))
	b = append(b, formatVersion, kindManifest)
	b = binary.BigEndian.AppendUint64(b, m.Index)
	b = binary.BigEndian.AppendUint64(b, m.Term)
	b = binary.BigEndian.AppendUint64(b, m.Size)
	b = binary.BigEndian.AppendUint32(b, m.ChunkBytes)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.CRCs)))
	b = engine.AppendMembership(b, m.Membership)
	for _, c := range m.CRCs {
		b = binary.BigEndian.AppendUint32(b, c)
	}
	b = append(b, m.SHA256[:]...)
	return binary.BigEndian.AppendUint32(b, record.Checksum(b))
}

// decodeManifest parses and validates a manifest of either version. It
// never panics and bounds every length before allocating.
func decodeManifest(b []byte) (*manifest, error) {
	version, body, err := checkFrame(b, kindManifest)
	if err != nil {
		return nil, err
	}
	r := record.NewReader(body)
	m := &manifest{Index: r.U64(), Term: r.U64(), Size: r.U64(), ChunkBytes: r.U32()}
	count := r.U32()
	m.Membership = readMembership(r, version)
	if err := r.Err(); err != nil {
		return nil, err
	}
	if m.ChunkBytes == 0 || m.ChunkBytes > MaxChunkBytes {
		return nil, fmt.Errorf("chunk size %d out of range", m.ChunkBytes)
	}
	if uint64(count) != chunkCount(m.Size, m.ChunkBytes) {
		return nil, fmt.Errorf("chunk count %d does not match size %d and chunk size %d", count, m.Size, m.ChunkBytes)
	}
	if uint64(count)*4 > uint64(r.Len()) {
		return nil, errors.New("truncated chunk checksums")
	}
	m.CRCs = make([]uint32, count)
	for i := range m.CRCs {
		m.CRCs[i] = r.U32()
	}
	copy(m.SHA256[:], r.Bytes(sha256.Size))
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return m, nil
}

// errVersion: a manifest or progress record of a version this code does
// not read (written by a newer yggr, or a damaged version byte).
var errVersion = errors.New("unsupported format version")

// checkFrame verifies the version and kind bytes and the trailing CRC-32C,
// and returns the version and the bytes between them. The version is
// checked first: another version may place its checksum elsewhere.
func checkFrame(b []byte, kind byte) (byte, []byte, error) {
	if len(b) < 2+4 {
		return 0, nil, fmt.Errorf("too short (%d bytes)", len(b))
	}
	version := b[0]
	if version != formatV1 && version != formatV2 {
		return 0, nil, fmt.Errorf("%w %d: this yggr reads versions %d and %d (written by a newer yggr, or damaged)",
			errVersion, version, formatV1, formatV2)
	}
	if b[1] != kind {
		return 0, nil, fmt.Errorf("unexpected kind %d, want %d", b[1], kind)
	}
	n := len(b) - 4
	if got, want := record.Checksum(b[:n]), binary.BigEndian.Uint32(b[n:]); got != want {
		return 0, nil, fmt.Errorf("checksum mismatch (computed %08x, stored %08x)", got, want)
	}
	return version, b[2:n], nil
}

// readMembership reads the membership of a record of the given version:
// version 1 in yggr v0.1's layout, version 2 in engine's one encoding
// (which accepts only its canonical form, so every record has one
// encoding).
func readMembership(r *record.Reader, version byte) engine.Membership {
	if version == formatV1 {
		return record.Decode(r, engine.DecodeMembershipV1)
	}
	return record.Decode(r, engine.DecodeMembership)
}

// validateMembership checks a membership before it is written, so that
// everything written can be decoded again (Validate bounds the lists by
// engine.MaxMembers).
func validateMembership(m engine.Membership) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("snapshot: invalid membership: %w", err)
	}
	return nil
}
