package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/yggrdb/yggr/engine"
)

// progress is the durable state of a partial receive, kept in the file
// "progress" of its recv- directory and replaced atomically after every
// WriteAt. Format (version 1, big-endian):
//
//	u8  version (1)      u8  kind (kindProgress)
//	u64 index            u64 term            u64 announced size (0 = unknown)
//	u32 chunk bytes      u64 offset (bytes received, fsynced)
//	u32 crc count        (= ceil(offset / chunk bytes))
//	membership           (see appendMembership)
//	u32 × crc count      CRC-32C of each chunk; the last one covers only
//	                     the received prefix of a partial chunk
//	u32                  CRC-32C of everything above
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
	b = appendMembership(b, p.Membership)
	for _, c := range p.CRCs {
		b = binary.BigEndian.AppendUint32(b, c)
	}
	return binary.BigEndian.AppendUint32(b, crc32c(b))
}

// decodeProgress parses and validates a progress record. It never panics
// and bounds every length before allocating.
func decodeProgress(b []byte) (*progress, error) {
	body, err := checkFrame(b, kindProgress)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	p := &progress{}
	p.Index = d.u64()
	p.Term = d.u64()
	p.Size = d.u64()
	p.ChunkBytes = d.u32()
	p.Offset = d.u64()
	count := d.u32()
	p.Membership = d.membership()
	if d.err != nil {
		return nil, d.err
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
	if uint64(count)*4 != uint64(len(d.b)) {
		return nil, errors.New("checksum list does not fill the record")
	}
	p.CRCs = make([]uint32, count)
	for i := range p.CRCs {
		p.CRCs[i] = d.u32()
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}
