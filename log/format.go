package log

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/record"
)

// Badger records. Every Badger key starts with a kind byte. A run
// (several consecutive entries under one key) is keyed by the kind byte and
// the big-endian indexes of its first and last entries, so runs sort by
// index and their extent is known from the key alone; the other records
// have one-byte keys.
//
// Every value but the format record's starts with the record version
// (recordVersion) and every value ends with a CRC-32C (Castagnoli),
// big-endian, computed over the key and then over every value byte before
// the checksum. Covering the key means a record stored under the wrong key
// (a misdirected write) fails verification. Integers are fixed-width
// big-endian; strings have a one-byte length; a membership is
// engine.AppendMembership's encoding. Every length is bounded before
// anything is allocated. testdata/records.golden locks the bytes.
//
//	format      'f'                 → format:u8 crc:u32
//	run         'r' first:u64 last:u64 gen:u64 → 2 entry* crc:u32
//	            entry = term:u64 type:u8 len:u32 data[len], last-first+1 of them
//	hard state  'h'                 → 2 term:u64 commit:u64 len:u8 vote[len] crc:u32
//	snapshot    's'                 → 2 index:u64 term:u64 size:u64 membership crc:u32
//	identity    'i'                 → 2 len:u8 cluster[len] len:u8 node[len] crc:u32
//	checkpoint  'c'                 → 2 lsn:u64 history:u64 last:u64 crc:u32
//	flush       'x'                 (written and dropped at once by gc.go; no record)
//
// Directory format and record version are two numbers. The format record
// holds the directory's format: which records the directory holds and how
// to read it, the one byte Open checks before anything else (every
// release so far refuses a format it does not know, with ErrFormat,
// before reading further). The first byte of every other value, and of
// every WAL segment header (wal.go), is the record version: the layout of
// that record. Format 3 changed which records a directory holds, not how
// any record is laid out, so the record version stayed 2: every record's
// bytes in records.golden are those of format 2, only the format record
// differs, the decoders read one version, and what this code writes into
// a format 2 directory is exactly what format 2 readers read. A new layout
// of a record will take record version 3, and a new directory format.
//
//   - Format 1 (yggr v0.1): no format record, one key per entry, no WAL,
//     record version 1. Read only by the migration in migrate.go, which
//     writes format 2 (see there why not 3).
//   - Format 2 (earlier releases): the records above, the identity record
//     among them, and the WAL.
//   - Format 3 (formatVersion, what a new directory gets): format 2 without
//     the identity record (the store's owner keeps the node's identity in
//     one place of its own, Options.ClusterID), and with the 'x' key of
//     gc.go. Earlier releases refuse it as "log format 3 by a newer yggr".
//
// A directory of format 2 keeps it: this code writes nothing there that a
// format 2 reader cannot read (records and WAL segments of record version
// 2, and the 'x' key, which it never reads: it reads keys by kind), so the
// release that wrote the directory still opens it after this one did.
// That includes the format 2
// directories without an identity record that the previous release
// created (it wrote format 3's content under format 2, issue 20): it
// still opens them after this one, while relabeling them 3 would only
// change the wording with which the releases before it refuse them.
// Open checks an identity record wherever one exists, whatever the
// format: a format 3 directory holding one (this code never writes it
// there) is checked the same way, not refused.
//
// A run's generation is the checkpoint that wrote it (increasing): where a
// crash leaves runs overlapping, the newer generation holds the log. The
// checkpoint record names the last write-ahead-log record whose effects
// the other records hold (wal.go), the index at or below which entries are
// no history any more (compacted, or dropped by a snapshot install), and
// the log's last index at that record: runs a crash left outside
// (history, last] are never read.
const (
	kindFormat     byte = 'f'
	kindRun        byte = 'r'
	kindHardState  byte = 'h'
	kindSnapshot   byte = 's'
	kindIdentity   byte = 'i'
	kindCheckpoint byte = 'c'
	// kindFlush is a key written and dropped at once (gc.go): no record.
	kindFlush byte = 'x'

	// formatVersion is the directory format a new store gets, and the
	// newest this code reads: the value of its format record.
	formatVersion byte = 3
	// formatV2 is the directory format of earlier releases, which format
	// 1's migration writes too (migrate.go).
	formatV2 byte = 2
	// recordVersion is the layout version of the records this code
	// writes: the first byte of every Badger value but the format
	// record's, and of every WAL segment's header.
	recordVersion byte = 2

	crcLen         = 4
	runKeyLen      = 25
	entryHeaderLen = 8 + 1 + 4
)

// MaxEntryBytes bounds the Data of one entry. Write rejects larger entries
// and the decoders treat a larger length as corruption.
const MaxEntryBytes = 16 << 20

// MaxIdentityLen bounds Options.ClusterID and Options.NodeID.
const MaxIdentityLen = 255

var (
	keyFormat     = []byte{kindFormat}
	keyHardState  = []byte{kindHardState}
	keySnapshot   = []byte{kindSnapshot}
	keyIdentity   = []byte{kindIdentity}
	keyCheckpoint = []byte{kindCheckpoint}
)

// errRecord is the cause inside a corruption error; callers wrap it with
// ErrCorrupt and the record's name and directory.
var errRecord = errors.New("invalid record")

// runID names a run: the entries first..last, written by the checkpoint
// of generation gen.
type runID struct{ first, last, gen uint64 }

func (r runID) String() string {
	return fmt.Sprintf("run of entries %d to %d (generation %d)", r.first, r.last, r.gen)
}

// key returns the run's Badger key.
func (r runID) key() []byte {
	k := make([]byte, runKeyLen)
	k[0] = kindRun
	binary.BigEndian.PutUint64(k[1:], r.first)
	binary.BigEndian.PutUint64(k[9:], r.last)
	binary.BigEndian.PutUint64(k[17:], r.gen)
	return k
}

// parseRunKey returns the run a key names.
func parseRunKey(k []byte) (runID, bool) {
	if len(k) != runKeyLen || k[0] != kindRun {
		return runID{}, false
	}
	r := runID{binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint64(k[9:]), binary.BigEndian.Uint64(k[17:])}
	return r, r.first <= r.last
}

func checksum(key, body []byte) uint32 {
	return record.UpdateChecksum(record.Checksum(key), body)
}

// seal appends the checksum of key and b to b.
func seal(key, b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, checksum(key, b))
}

// unseal verifies that v is a record of the given version (this code's
// recordVersion, or v1Version for migrate.go) with a valid checksum
// under key, and returns the body between version byte and checksum.
func unseal(key, v []byte, version byte) ([]byte, error) {
	if len(v) < 1+crcLen {
		return nil, fmt.Errorf("%w: %d bytes is too short", errRecord, len(v))
	}
	if v[0] != version {
		return nil, fmt.Errorf("%w: unknown version %d", errRecord, v[0])
	}
	n := len(v) - crcLen
	if got, want := checksum(key, v[:n]), binary.BigEndian.Uint32(v[n:]); got != want {
		return nil, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", errRecord, want, got)
	}
	return v[1:n], nil
}

// entryWeight is the engine's measure of an entry for byte limits.
func entryWeight(e engine.Entry) uint64 { return uint64(len(e.Data)) + entryOverhead }

// entryOverhead matches the engine's per-entry weight for byte limits.
const entryOverhead = 24

// appendEntries appends the encoding of es (term, type, data length, data
// each) to b.
func appendEntries(b []byte, es []engine.Entry) []byte {
	for _, e := range es {
		b = binary.BigEndian.AppendUint64(b, e.Term)
		b = append(b, byte(e.Type))
		b = binary.BigEndian.AppendUint32(b, uint32(len(e.Data)))
		b = append(b, e.Data...)
	}
	return b
}

// entriesLen is the length of appendEntries' output for es.
func entriesLen(es []engine.Entry) int {
	n := 0
	for _, e := range es {
		n += entryHeaderLen + len(e.Data)
	}
	return n
}

// readEntries decodes n entries with indexes first, first+1, ... from r
// and appends them to dst (nil: a new slice of n).
// Each entry's Data aliases r's input when alias is set, else it is a fresh
// copy. Terms must not decrease, types must be known and lengths bounded.
func readEntries(dst []engine.Entry, r *record.Reader, first uint64, n uint64, alias bool) []engine.Entry {
	// Each entry takes at least entryHeaderLen bytes: bound n before
	// allocating.
	if n > uint64(r.Len()/entryHeaderLen) {
		r.Failf("%d entries in %d bytes", n, r.Len())
		return nil
	}
	es := dst
	if es == nil {
		es = make([]engine.Entry, 0, n)
	}
	var prevTerm uint64
	for i := range n {
		e := engine.Entry{Index: first + i, Term: r.U64(), Type: engine.EntryType(r.U8())}
		size := r.U32()
		if r.Err() != nil {
			return nil
		}
		if !e.Type.Valid() {
			r.Failf("entry %d has unknown type %d", e.Index, e.Type)
			return nil
		}
		if size > MaxEntryBytes {
			r.Failf("entry %d has %d bytes, more than %d", e.Index, size, MaxEntryBytes)
			return nil
		}
		if e.Term < prevTerm {
			r.Failf("entry %d has term %d below the previous entry's %d", e.Index, e.Term, prevTerm)
			return nil
		}
		prevTerm = e.Term
		if data := r.Bytes(int(size)); len(data) > 0 {
			if alias {
				e.Data = data // capped at its length by Bytes: an append copies
			} else {
				e.Data = append([]byte(nil), data...)
			}
		}
		if r.Err() != nil {
			return nil
		}
		es = append(es, e)
	}
	return es
}

// runOf returns the ID of the run holding es (contiguous, at least one) in
// generation gen.
func runOf(es []engine.Entry, gen uint64) runID {
	return runID{es[0].Index, es[len(es)-1].Index, gen}
}

// encodeRun returns the value of the run id holding es (contiguous, at
// least one).
func encodeRun(id runID, es []engine.Entry) []byte {
	b := make([]byte, 0, 1+entriesLen(es)+crcLen)
	b = append(b, recordVersion)
	b = appendEntries(b, es)
	return seal(id.key(), b)
}

// decodeRun decodes the value v of the run id. The entries' Data are fresh
// copies.
func decodeRun(id runID, v []byte) ([]engine.Entry, error) {
	return decodeRunData(nil, id, v, false)
}

// decodeRunInto is decodeRun for a value the caller owns and gives up,
// appending to dst (nil: a new slice): the entries' Data alias v, each
// capped at its length.
func decodeRunInto(dst []engine.Entry, id runID, v []byte) ([]engine.Entry, error) {
	return decodeRunData(dst, id, v, true)
}

func decodeRunData(dst []engine.Entry, id runID, v []byte, alias bool) ([]engine.Entry, error) {
	body, err := unseal(id.key(), v, recordVersion)
	if err != nil {
		return nil, err
	}
	r := record.NewReader(body)
	es := readEntries(dst, r, id.first, id.last-id.first+1, alias)
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %v", errRecord, err)
	}
	return es, nil
}

// encodeFormat returns the value of the format record of a directory of
// the given format.
func encodeFormat(format byte) []byte { return seal(keyFormat, []byte{format}) }

// decodeFormat returns the directory format that v, the format record's
// value, names. A format newer than formatVersion is returned unverified
// (a newer release may seal its record otherwise): Open refuses it by its
// version alone. Formats 0 and 1 have no format record.
func decodeFormat(v []byte) (byte, error) {
	if len(v) != 1+crcLen {
		return 0, fmt.Errorf("%w: %d bytes", errRecord, len(v))
	}
	format := v[0]
	if format > formatVersion {
		return format, nil
	}
	if _, err := unseal(keyFormat, v, format); err != nil {
		return 0, err
	}
	if format < formatV2 {
		return 0, fmt.Errorf("%w: unknown format %d", errRecord, format)
	}
	return format, nil
}

// encodeHardState returns the value of the hard state record. The vote must
// be at most engine.MaxNodeIDLen bytes (checked by Write).
func encodeHardState(hs engine.HardState) []byte {
	return seal(keyHardState, appendHardState([]byte{recordVersion}, hs))
}

func appendHardState(b []byte, hs engine.HardState) []byte {
	b = binary.BigEndian.AppendUint64(b, hs.Term)
	b = binary.BigEndian.AppendUint64(b, hs.Commit)
	return record.AppendString8(b, string(hs.Vote))
}

func readHardState(r *record.Reader) engine.HardState {
	return engine.HardState{Term: r.U64(), Commit: r.U64(), Vote: engine.NodeID(r.String8(engine.MaxNodeIDLen))}
}

func decodeHardState(v []byte) (engine.HardState, error) {
	return decodeWith(keyHardState, v, readHardState)
}

// encodeSnapshotMeta returns the value of the snapshot record. The
// membership must be valid (checked by the callers).
func encodeSnapshotMeta(m engine.SnapshotMeta) []byte {
	return seal(keySnapshot, appendSnapshotMeta([]byte{recordVersion}, m))
}

func appendSnapshotMeta(b []byte, m engine.SnapshotMeta) []byte {
	b = binary.BigEndian.AppendUint64(b, m.Index)
	b = binary.BigEndian.AppendUint64(b, m.Term)
	b = binary.BigEndian.AppendUint64(b, m.Size)
	return engine.AppendMembership(b, m.Membership)
}

func readSnapshotMeta(r *record.Reader) engine.SnapshotMeta {
	m := engine.SnapshotMeta{Index: r.U64(), Term: r.U64(), Size: r.U64()}
	m.Membership = record.Decode(r, engine.DecodeMembership)
	return m
}

func decodeSnapshotMeta(v []byte) (engine.SnapshotMeta, error) {
	return decodeWith(keySnapshot, v, readSnapshotMeta)
}

// identity names the cluster and node a store belongs to: the identity
// record of a store an earlier release created (see the layout above).
type identity struct {
	ClusterID string
	NodeID    string
}

func encodeIdentity(id identity) []byte {
	b := []byte{recordVersion}
	b = record.AppendString8(b, id.ClusterID)
	b = record.AppendString8(b, id.NodeID)
	return seal(keyIdentity, b)
}

func decodeIdentity(v []byte) (identity, error) {
	return decodeWith(keyIdentity, v, func(r *record.Reader) identity {
		return identity{ClusterID: r.String8(MaxIdentityLen), NodeID: r.String8(MaxIdentityLen)}
	})
}

// checkpointRecord is the content of the checkpoint record.
type checkpointRecord struct {
	lsn     uint64 // the last WAL record included
	history uint64 // no entry at or below it is history
	last    uint64 // the log's last index after record lsn
}

func encodeCheckpoint(c checkpointRecord) []byte {
	b := binary.BigEndian.AppendUint64([]byte{recordVersion}, c.lsn)
	b = binary.BigEndian.AppendUint64(b, c.history)
	return seal(keyCheckpoint, binary.BigEndian.AppendUint64(b, c.last))
}

func decodeCheckpoint(v []byte) (checkpointRecord, error) {
	return decodeWith(keyCheckpoint, v, func(r *record.Reader) checkpointRecord {
		return checkpointRecord{lsn: r.U64(), history: r.U64(), last: r.U64()}
	})
}

// decodeWith unseals v under key and reads its whole body with read.
func decodeWith[T any](key, v []byte, read func(*record.Reader) T) (T, error) {
	return decodeVersion(key, v, recordVersion, read)
}

// decodeVersion unseals v, a record of the given version, under key and
// reads its whole body with read.
func decodeVersion[T any](key, v []byte, version byte, read func(*record.Reader) T) (T, error) {
	var zero T
	body, err := unseal(key, v, version)
	if err != nil {
		return zero, err
	}
	r := record.NewReader(body)
	out := read(r)
	if err := r.Finish(); err != nil {
		return zero, fmt.Errorf("%w: %v", errRecord, err)
	}
	return out, nil
}

// validSnapshotMeta reports whether m can be encoded and decoded back.
func validSnapshotMeta(m engine.SnapshotMeta) error {
	return m.Membership.Validate()
}
