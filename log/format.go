package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/yggrdb/yggr/engine"
)

// On-disk format. Every Badger key starts with a kind byte. Entry keys are
// the kind byte followed by the big-endian index, so entries sort by index;
// the other records have one-byte keys.
//
// Every value starts with a version byte and ends with a CRC-32C
// (Castagnoli), big-endian, computed over the key and then over every value
// byte before the checksum. Covering the key means a record stored under the
// wrong key (a misdirected write) fails verification. Integers are
// fixed-width big-endian; byte strings are length-prefixed, and every length
// is bounded before anything is allocated. The bytes are locked by
// testdata/*.golden.
//
//	entry       'e' index:u64 → 1 term:u64 type:u8 len:u32 data[len] crc:u32
//	hard state  'h'           → 1 term:u64 commit:u64 len:u8 vote[len] crc:u32
//	snapshot    's'           → 1 index:u64 term:u64 size:u64 voters learners crc:u32
//	                            (each list: count:u16, then len:u8 id[len] per member)
//	identity    'i'           → 1 len:u8 cluster[len] len:u8 node[len] crc:u32
const (
	kindEntry     byte = 'e'
	kindHardState byte = 'h'
	kindSnapshot  byte = 's'
	kindIdentity  byte = 'i'

	// recordVersion is the first byte of every value.
	recordVersion byte = 1

	crcLen         = 4
	entryHeaderLen = 1 + 8 + 1 + 4
	entryKeyLen    = 9
)

// MaxEntryBytes bounds the Data of one entry. Write rejects larger entries
// and the decoder treats a larger length as corruption.
const MaxEntryBytes = 16 << 20

// MaxIdentityLen bounds Options.ClusterID and Options.NodeID.
const MaxIdentityLen = 255

// maxMembers bounds each member list of a decoded snapshot membership.
const maxMembers = 4096

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	keyHardState = []byte{kindHardState}
	keySnapshot  = []byte{kindSnapshot}
	keyIdentity  = []byte{kindIdentity}
)

// errRecord is the cause inside a corruption error; callers wrap it with
// ErrCorrupt and the record's name and directory.
var errRecord = errors.New("invalid record")

// entryKey returns the key of the entry at index.
func entryKey(index uint64) []byte {
	k := make([]byte, entryKeyLen)
	k[0] = kindEntry
	binary.BigEndian.PutUint64(k[1:], index)
	return k
}

// parseEntryKey returns the index of an entry key.
func parseEntryKey(k []byte) (uint64, bool) {
	if len(k) != entryKeyLen || k[0] != kindEntry {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[1:]), true
}

func checksum(key, body []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, key), castagnoli, body)
}

// seal appends the checksum of key and b to b.
func seal(key, b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, checksum(key, b))
}

// unseal verifies the version byte and checksum of v under key and returns the
// body between them.
func unseal(key, v []byte) ([]byte, error) {
	if len(v) < 1+crcLen {
		return nil, fmt.Errorf("%w: %d bytes is too short", errRecord, len(v))
	}
	if v[0] != recordVersion {
		return nil, fmt.Errorf("%w: unknown version %d", errRecord, v[0])
	}
	n := len(v) - crcLen
	if got, want := checksum(key, v[:n]), binary.BigEndian.Uint32(v[n:]); got != want {
		return nil, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", errRecord, want, got)
	}
	return v[1:n], nil
}

// encodeEntry returns the value of entry e (stored under entryKey(e.Index)).
func encodeEntry(e engine.Entry) []byte {
	b := make([]byte, 0, entryHeaderLen+len(e.Data)+crcLen)
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, e.Term)
	b = append(b, byte(e.Type))
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Data)))
	b = append(b, e.Data...)
	return seal(entryKey(e.Index), b)
}

// decodeEntry decodes the value v of the entry at index. The returned Data
// is a fresh copy; v may be reused by the caller.
func decodeEntry(index uint64, v []byte) (engine.Entry, error) {
	body, err := unseal(entryKey(index), v)
	if err != nil {
		return engine.Entry{}, err
	}
	if len(body) < entryHeaderLen-1 {
		return engine.Entry{}, fmt.Errorf("%w: entry header truncated", errRecord)
	}
	e := engine.Entry{Index: index, Term: binary.BigEndian.Uint64(body), Type: engine.EntryType(body[8])}
	if !e.Type.Valid() {
		return engine.Entry{}, fmt.Errorf("%w: unknown entry type %d", errRecord, body[8])
	}
	n := binary.BigEndian.Uint32(body[9:])
	rest := body[13:]
	if n > MaxEntryBytes || uint64(n) != uint64(len(rest)) {
		return engine.Entry{}, fmt.Errorf("%w: data length %d, record holds %d", errRecord, n, len(rest))
	}
	if n > 0 {
		e.Data = make([]byte, n)
		copy(e.Data, rest)
	}
	return e, nil
}

// decodeEntryTerm verifies the entry value v at index and returns its term
// without copying the data.
func decodeEntryTerm(index uint64, v []byte) (uint64, error) {
	body, err := unseal(entryKey(index), v)
	if err != nil {
		return 0, err
	}
	if len(body) < entryHeaderLen-1 {
		return 0, fmt.Errorf("%w: entry header truncated", errRecord)
	}
	if n := binary.BigEndian.Uint32(body[9:]); n > MaxEntryBytes || uint64(n) != uint64(len(body)-13) {
		return 0, fmt.Errorf("%w: data length %d, record holds %d", errRecord, n, len(body)-13)
	}
	if t := engine.EntryType(body[8]); !t.Valid() {
		return 0, fmt.Errorf("%w: unknown entry type %d", errRecord, body[8])
	}
	return binary.BigEndian.Uint64(body), nil
}

// reader consumes a record body, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{errRecord}, args...)...)
	}
}

func (r *reader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.fail("truncated integer")
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) u16() uint16 {
	if r.err != nil || len(r.b) < 2 {
		r.fail("truncated count")
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

// str reads a u8-length-prefixed string of at most max bytes.
func (r *reader) str(max int) string {
	if r.err != nil || len(r.b) < 1 {
		r.fail("truncated string")
		return ""
	}
	n := int(r.b[0])
	if n > max || n > len(r.b)-1 {
		r.fail("string length %d out of bounds", n)
		return ""
	}
	s := string(r.b[1 : 1+n])
	r.b = r.b[1+n:]
	return s
}

func (r *reader) ids() []engine.NodeID {
	n := int(r.u16())
	if r.err != nil {
		return nil
	}
	// Each member takes at least two bytes; bound before allocating.
	if n > maxMembers || n > len(r.b)/2 {
		r.fail("member count %d out of bounds", n)
		return nil
	}
	if n == 0 {
		return nil
	}
	ids := make([]engine.NodeID, 0, n)
	for range n {
		ids = append(ids, engine.NodeID(r.str(engine.MaxNodeIDLen)))
	}
	return ids
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

func appendStr(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}

// encodeHardState returns the value of the hard state record. The vote must
// be at most engine.MaxNodeIDLen bytes (checked by Write).
func encodeHardState(hs engine.HardState) []byte {
	b := []byte{recordVersion}
	b = binary.BigEndian.AppendUint64(b, hs.Term)
	b = binary.BigEndian.AppendUint64(b, hs.Commit)
	b = appendStr(b, string(hs.Vote))
	return seal(keyHardState, b)
}

func decodeHardState(v []byte) (engine.HardState, error) {
	body, err := unseal(keyHardState, v)
	if err != nil {
		return engine.HardState{}, err
	}
	r := reader{b: body}
	hs := engine.HardState{Term: r.u64(), Commit: r.u64(), Vote: engine.NodeID(r.str(engine.MaxNodeIDLen))}
	if err := r.end(); err != nil {
		return engine.HardState{}, err
	}
	return hs, nil
}

// encodeSnapshotMeta returns the value of the snapshot record. The
// membership must be valid (checked by the callers).
func encodeSnapshotMeta(m engine.SnapshotMeta) []byte {
	b := []byte{recordVersion}
	b = binary.BigEndian.AppendUint64(b, m.Index)
	b = binary.BigEndian.AppendUint64(b, m.Term)
	b = binary.BigEndian.AppendUint64(b, m.Size)
	for _, list := range [][]engine.NodeID{m.Membership.Voters, m.Membership.Learners} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(list)))
		for _, id := range list {
			b = appendStr(b, string(id))
		}
	}
	return seal(keySnapshot, b)
}

func decodeSnapshotMeta(v []byte) (engine.SnapshotMeta, error) {
	body, err := unseal(keySnapshot, v)
	if err != nil {
		return engine.SnapshotMeta{}, err
	}
	r := reader{b: body}
	m := engine.SnapshotMeta{Index: r.u64(), Term: r.u64(), Size: r.u64()}
	m.Membership.Voters = r.ids()
	m.Membership.Learners = r.ids()
	if err := r.end(); err != nil {
		return engine.SnapshotMeta{}, err
	}
	if err := m.Membership.Validate(); err != nil {
		return engine.SnapshotMeta{}, fmt.Errorf("%w: %v", errRecord, err)
	}
	return m, nil
}

// validSnapshotMeta reports whether m can be encoded and decoded back.
func validSnapshotMeta(m engine.SnapshotMeta) error {
	if err := m.Membership.Validate(); err != nil {
		return err
	}
	if len(m.Membership.Voters) > maxMembers || len(m.Membership.Learners) > maxMembers {
		return fmt.Errorf("log: membership has more than %d members in a list", maxMembers)
	}
	return nil
}

// identity names the cluster and node a store belongs to.
type identity struct {
	ClusterID string
	NodeID    string
}

func encodeIdentity(id identity) []byte {
	b := []byte{recordVersion}
	b = appendStr(b, id.ClusterID)
	b = appendStr(b, id.NodeID)
	return seal(keyIdentity, b)
}

func decodeIdentity(v []byte) (identity, error) {
	body, err := unseal(keyIdentity, v)
	if err != nil {
		return identity{}, err
	}
	r := reader{b: body}
	id := identity{ClusterID: r.str(MaxIdentityLen), NodeID: r.str(MaxIdentityLen)}
	if err := r.end(); err != nil {
		return identity{}, err
	}
	return id, nil
}
