package snapshot

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/yggrdb/yggr/engine"
)

// Disk format, version 1. Every integer is big-endian and fixed-width.
//
// manifest:
//
//	u8  version (1)      u8  kind (kindManifest)
//	u64 index            u64 term            u64 size (bytes)
//	u32 chunk bytes      u32 chunk count
//	membership           (see appendMembership)
//	u32 × chunk count    CRC-32C of each chunk file
//	[32]byte             SHA-256 of the whole snapshot
//	u32                  CRC-32C of everything above
//
// The chunk count must be ceil(size / chunk bytes): every chunk file but
// the last holds exactly chunk bytes, the last holds the remainder.
const (
	formatVersion = 1

	kindManifest = 1
	kindProgress = 2

	// MaxChunkBytes bounds Options.ChunkBytes and the chunk size a manifest
	// may declare.
	MaxChunkBytes = 64 << 20

	// maxMetaFileBytes bounds how much of a manifest or progress file is
	// read before decoding (a 1 TiB snapshot of 1 MiB chunks needs 4 MiB of
	// CRCs).
	maxMetaFileBytes = 16 << 20

	// maxMembers bounds each membership list.
	maxMembers = 1024
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

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
	b = appendMembership(b, m.Membership)
	for _, c := range m.CRCs {
		b = binary.BigEndian.AppendUint32(b, c)
	}
	b = append(b, m.SHA256[:]...)
	return binary.BigEndian.AppendUint32(b, crc32c(b))
}

// decodeManifest parses and validates a manifest. It never panics and
// bounds every length before allocating.
func decodeManifest(b []byte) (*manifest, error) {
	body, err := checkFrame(b, kindManifest)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	m := &manifest{}
	m.Index = d.u64()
	m.Term = d.u64()
	m.Size = d.u64()
	m.ChunkBytes = d.u32()
	count := d.u32()
	m.Membership = d.membership()
	if d.err != nil {
		return nil, d.err
	}
	if m.ChunkBytes == 0 || m.ChunkBytes > MaxChunkBytes {
		return nil, fmt.Errorf("chunk size %d out of range", m.ChunkBytes)
	}
	if uint64(count) != chunkCount(m.Size, m.ChunkBytes) {
		return nil, fmt.Errorf("chunk count %d does not match size %d and chunk size %d", count, m.Size, m.ChunkBytes)
	}
	if uint64(count)*4 > uint64(len(d.b)) {
		return nil, errors.New("truncated chunk checksums")
	}
	m.CRCs = make([]uint32, count)
	for i := range m.CRCs {
		m.CRCs[i] = d.u32()
	}
	copy(m.SHA256[:], d.bytes(sha256.Size))
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return m, nil
}

// checkFrame verifies the version and kind bytes and the trailing CRC-32C,
// and returns the bytes between them.
func checkFrame(b []byte, kind byte) ([]byte, error) {
	if len(b) < 2+4 {
		return nil, fmt.Errorf("too short (%d bytes)", len(b))
	}
	if b[0] != formatVersion {
		return nil, fmt.Errorf("unknown format version %d", b[0])
	}
	if b[1] != kind {
		return nil, fmt.Errorf("unexpected kind %d, want %d", b[1], kind)
	}
	n := len(b) - 4
	if got, want := crc32c(b[:n]), binary.BigEndian.Uint32(b[n:]); got != want {
		return nil, fmt.Errorf("checksum mismatch (computed %08x, stored %08x)", got, want)
	}
	return b[2:n], nil
}

// appendMembership encodes voters then learners, each as a u16 count and
// u8-length-prefixed IDs.
func appendMembership(b []byte, m engine.Membership) []byte {
	for _, list := range [][]engine.NodeID{m.Voters, m.Learners} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(list)))
		for _, id := range list {
			b = append(b, byte(len(id)))
			b = append(b, id...)
		}
	}
	return b
}

// validateMembership checks a membership before it is written, so that
// everything written can be decoded again.
func validateMembership(m engine.Membership) error {
	if len(m.Voters) > maxMembers || len(m.Learners) > maxMembers {
		return fmt.Errorf("snapshot: membership has more than %d members", maxMembers)
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("snapshot: invalid membership: %w", err)
	}
	return nil
}

// decoder reads fixed-width fields; the first failure sticks in err and
// every later read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = errors.New("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if v := d.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if v := d.bytes(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.bytes(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.bytes(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) membership() engine.Membership {
	var lists [2][]engine.NodeID
	for i := range lists {
		n := int(d.u16())
		if d.err != nil {
			return engine.Membership{}
		}
		if n > maxMembers || n > len(d.b) {
			d.err = fmt.Errorf("membership list of %d ids", n)
			return engine.Membership{}
		}
		for range n {
			l := int(d.u8())
			id := d.bytes(l)
			if d.err != nil {
				return engine.Membership{}
			}
			lists[i] = append(lists[i], engine.NodeID(id))
		}
	}
	m := engine.Membership{Voters: lists[0], Learners: lists[1]}
	if err := m.Validate(); err != nil {
		d.err = err
		return engine.Membership{}
	}
	return m
}
