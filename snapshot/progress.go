package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/record"
)

// progress is the durable state of a partial receive, kept in the file
// "progress" of its recv- directory and replaced atomically at every sync
// of the Receiver. Format (version 2, big-endian):
//
//	u8  version (2)      u8  kind (kindProgress)
//	u64 index            u64 term            u64 announced size (0 = unknown)
//	u32 chunk bytes      u64 offset (bytes received and fsynced)
//	u32 crc count        (= ceil(offset / chunk bytes))
//	membership           engine.AppendMembership
//	u32 × crc count      CRC-32C of each chunk; the last one covers only
//	                     the received prefix of a partial chunk
//	u32                  CRC-32C of everything above
//
// Version 1 (yggr v0.1), still read, differs only in the membership: u16
// counts and u8-length IDs (see the format comment in manifest.go). A
// receive resumed from a version 1 record rewrites it as version 2 at once.
type progress struct {
	Index      uint64
	Term       uint64
	Membership engine.Membership
	Size       uint64 // announced by the sender; 0 if unknown
	ChunkBytes uint32
	Offset     uint64
	CRCs       []uint32
}

func (p *progress) encode() []byte {
	b := make([]byte, 0, 64+4*len(p.CRCs))
	b = append(b, formatVersion, kindProgress)
	b = binary.BigEndian.AppendUint64(b, p.Index)
	b = binary.BigEndian.AppendUint64(b, p.Term)
	b = binary.BigEndian.AppendUint64(b, p.Size)
	b = binary.BigEndian.AppendUint32(b, p.ChunkBytes)
	b = binary.BigEndian.AppendUint64(b, p.Offset)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.CRCs)))
	b = engine.AppendMembership(b, p.Membership)
	for _, c := range p.CRCs {
		b = binary.BigEndian.AppendUint32(b, c)
	}
	return binary.BigEndian.AppendUint32(b, record.Checksum(b))
}

// decodeProgress parses and validates a progress record of either
// version. It never panics and bounds every length before allocating.
func decodeProgress(b []byte) (*progress, error) {
	version, body, err := checkFrame(b, kindProgress)
	if err != nil {
		return nil, err
	}
	r := record.NewReader(body)
	p := &progress{Index: r.U64(), Term: r.U64(), Size: r.U64(), ChunkBytes: r.U32(), Offset: r.U64()}
	count := r.U32()
	p.Membership = readMembership(r, version)
	if err := r.Err(); err != nil {
		return nil, err
	}
	if p.ChunkBytes == 0 || p.ChunkBytes > MaxChunkBytes {
		return nil, fmt.Errorf("chunk size %d out of range", p.ChunkBytes)
	}
	if p.Size != 0 && p.Offset > p.Size {
		return nil, fmt.Errorf("offset %d beyond announced size %d", p.Offset, p.Size)
	}
	if uint64(count) != chunkCount(p.Offset, p.ChunkBytes) {
		return nil, fmt.Errorf("%d checksums for offset %d and chunk size %d", count, p.Offset, p.ChunkBytes)
	}
	if uint64(count)*4 != uint64(r.Len()) {
		return nil, errors.New("checksum list does not fill the record")
	}
	p.CRCs = make([]uint32, count)
	for i := range p.CRCs {
		p.CRCs[i] = r.U32()
	}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return p, nil
}
