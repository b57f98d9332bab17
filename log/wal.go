package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/yggrdb/yggr/internal/diskfault"
	"github.com/yggrdb/yggr/internal/record"
)

// The write-ahead log: numbered segment files in dir/raft/wal.
//
//	<seq:016x>.wal   a segment: header, then records
//	spare.wal        a segment prepared for the next switch
//
// A segment is segmentBytes long (Options.segmentBytes in tests; longer
// only for one oversized record) and is filled with zeros before it is
// first used, so that writing a record overwrites allocated, written
// blocks: fdatasync then flushes the data and nothing else (no size change,
// no extent conversion). Segments are never reused, so that the bytes after
// the last record are always zeros and a torn write is told from the end of
// the log without doubt; a goroutine prepares the next one ahead.
//
//	header  "yggrwal\x00" version:u8 (= recordVersion, format.go) 7 zero bytes
//	record  len:u32 crc:u32 lsn:u64 body[len] zero padding to 8 bytes
//
// crc is the CRC-32C of len, lsn and body. The LSN (log sequence number)
// grows by one per record across all segments. A slot of 16 zero bytes
// ends a segment's records.
const (
	segmentBytes    = 8 << 20
	walHeaderLen    = 16
	walRecHeaderLen = 16
	walSuffix       = ".wal"
	spareName       = "spare" + walSuffix
	zeroChunk       = 1 << 20
)

var walMagic = []byte("yggrwal\x00")

// walRecord is a record read back at open.
type walRecord struct {
	lsn  uint64
	body []byte // a copy of the record's bytes
}

// segment is a segment file that holds records (or will).
type segment struct {
	seq     uint64
	size    int64
	lastLSN uint64 // of the last record in it; 0 if none
}

// wal appends records to segment files. append is called by one writer at
// a time; release may run concurrently with it.
type wal struct {
	dir     string
	nosync  bool
	logger  *slog.Logger
	segSize int64 // the size of a segment: segmentBytes, or smaller in tests

	mu   sync.Mutex // guards segs, spare, f, off
	segs []segment  // ascending seq; the last is the one being written
	f    *os.File   // the last segment, open for writing
	off  int64      // next write offset in f
	// spare is true when spare.wal is ready for the next switch.
	spare bool

	kick chan struct{} // buffered(1): ask the preparer for a spare
	stop chan struct{}
	done chan struct{}
}

// walPath returns the path of segment seq.
func (w *wal) path(seq uint64) string {
	return filepath.Join(w.dir, fmt.Sprintf("%016x%s", seq, walSuffix))
}

// recordSize is the bytes a record with a body of n bytes takes.
func recordSize(n int) int64 { return int64(walRecHeaderLen+n+7) &^ 7 }

// openWAL opens or creates the WAL in dir and reads it. It returns the
// records with an LSN above cp, in order, and notes about a torn tail it
// dropped. A record that fails verification and is followed by a valid
// later record is corruption, not a tear: an error wrapping ErrCorrupt.
func openWAL(dir string, cp uint64, segSize int64, nosync bool, logger *slog.Logger) (*wal, []walRecord, []string, error) {
	w := &wal{dir: dir, nosync: nosync, logger: logger, segSize: segSize,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("log: create %s: %w", dir, err)
	}
	seqs, err := w.list()
	if err != nil {
		return nil, nil, nil, err
	}
	recs, notes, err := w.recover(seqs, cp)
	if err != nil {
		return nil, nil, nil, err
	}
	// The preparer goroutine is owned by the wal; close stops it and waits.
	go w.prepareLoop()
	return w, recs, notes, nil
}

// list returns the sequence numbers of the segments in dir, ascending,
// notes whether a spare is ready, and removes what an interrupted
// preparation left.
func (w *wal) list() ([]uint64, error) {
	ents, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, fmt.Errorf("log: list %s: %w", w.dir, err)
	}
	var seqs []uint64
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			if err := os.Remove(filepath.Join(w.dir, name)); err != nil {
				return nil, fmt.Errorf("log: remove %s: %w", name, err)
			}
			continue
		}
		if name == spareName {
			if info, err := e.Info(); err == nil && info.Size() == w.segSize {
				w.spare = true
			} else if err := os.Remove(filepath.Join(w.dir, name)); err != nil {
				return nil, fmt.Errorf("log: remove %s: %w", name, err)
			}
			continue
		}
		hex, ok := strings.CutSuffix(name, walSuffix)
		if !ok || len(hex) != 16 {
			continue
		}
		seq, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	return seqs, nil
}

// slot is one decoded record header position in a segment.
type slot struct {
	n   uint32
	crc uint32
	lsn uint64
}

func readSlot(b []byte) slot {
	return slot{binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint64(b[8:])}
}

// validAt reports whether a record with a valid checksum starts at off in
// seg, and returns it.
func validAt(seg []byte, off int) (slot, bool) {
	if off+walRecHeaderLen > len(seg) {
		return slot{}, false
	}
	s := readSlot(seg[off:])
	if s.n == 0 || int64(s.n) > int64(len(seg)-off-walRecHeaderLen) {
		return s, false
	}
	crc := record.Checksum(seg[off : off+4])
	crc = record.UpdateChecksum(crc, seg[off+8:off+walRecHeaderLen+int(s.n)])
	return s, crc == s.crc
}

// findNewer looks for a record with a valid checksum and an LSN above lsn
// at any 8-byte aligned offset from off on in seg.
func findNewer(seg []byte, off int, lsn uint64) (at int, newer uint64, found bool) {
	for ; off+walRecHeaderLen <= len(seg); off += 8 {
		if binary.BigEndian.Uint64(seg[off+8:]) <= lsn {
			continue // cheap test first: most slots are zeros or old
		}
		if s, ok := validAt(seg, off); ok {
			return off, s.lsn, true
		}
	}
	return 0, 0, false
}

// recover reads the segments in order, keeps the records above cp and
// positions the writer after the last valid record. One segment is mapped
// at a time (load): the records kept are copies, and a torn tail sends it
// back to read the later segments again.
func (w *wal) recover(seqs []uint64, cp uint64) ([]walRecord, []string, error) {
	var (
		recs  []walRecord
		notes []string
		prev  uint64 // LSN of the last valid record read; 0 before the first
	)
	type scanned struct {
		seq     uint64
		size    int64
		end     int    // offset after the last valid record
		lastLSN uint64 // of the last valid record; 0 if none
	}
	var segs []scanned
	// Read records until the first slot that is neither a valid record nor
	// the end of a segment. A segment's records end where the rest of the
	// segment is zeros (segments are created zeroed and never reused); a
	// zero header followed by anything else is a torn record (its header's
	// sector did not reach the disk) or damage, told apart below.
	bad := -1 // index in segs (and seqs) of the segment holding a bad slot
	badOff := 0
	var data []byte
	release := func() {} // unmaps data
	defer func() { release() }()
scan:
	for _, seq := range seqs {
		release()
		var err error
		if data, release, err = w.load(seq); err != nil {
			return nil, nil, err
		}
		segs = append(segs, scanned{seq: seq, size: int64(len(data)), end: walHeaderLen})
		sg := &segs[len(segs)-1]
		off := walHeaderLen
		for off+walRecHeaderLen <= len(data) {
			s, ok := validAt(data, off)
			if s == (slot{}) && allZero(data[off:]) {
				break // the end of this segment's records
			}
			if !ok {
				bad, badOff = len(segs)-1, off
				break scan
			}
			if (prev != 0 && s.lsn != prev+1) || (prev == 0 && s.lsn > cp+1) {
				return nil, nil, fmt.Errorf("%w: %s at offset %d: record %d follows record %d (records %d to %d are missing)",
					ErrCorrupt, w.path(seq), off, s.lsn, max(prev, cp), max(prev, cp)+1, s.lsn-1)
			}
			prev = s.lsn
			if s.lsn > cp {
				// A copy: the entries decoded from it stay in memory until
				// a checkpoint moves them, and data is unmapped when the
				// next segment is read.
				body := slices.Clone(data[off+walRecHeaderLen : off+walRecHeaderLen+int(s.n)])
				recs = append(recs, walRecord{lsn: s.lsn, body: body})
			}
			off += int(recordSize(int(s.n)))
			sg.end, sg.lastLSN = off, s.lsn
		}
	}
	if bad >= 0 {
		// A torn write is the last thing written: no valid record newer
		// than the last one read may follow it anywhere.
		next := max(prev, cp) + 1
		badSeg := segs[bad]
		if at, lsn, found := findNewer(data, badOff+8, next-1); found {
			return nil, nil, w.damaged(badSeg.seq, badOff, lsn, badSeg.seq, at)
		}
		for _, seq := range seqs[bad+1:] {
			release()
			var err error
			if data, release, err = w.load(seq); err != nil {
				return nil, nil, err
			}
			if at, lsn, found := findNewer(data, walHeaderLen, next-1); found {
				return nil, nil, w.damaged(badSeg.seq, badOff, lsn, seq, at)
			}
		}
		release()
		release = func() {}
		notes = append(notes, fmt.Sprintf("write-ahead log %s at offset %d: dropped a torn record (record %d was never acknowledged)",
			w.path(badSeg.seq), badOff, next))
		// Zero the torn bytes, so that they are never read again, and drop
		// the later segments, which hold nothing valid.
		if err := w.zeroFrom(badSeg.seq, int64(badOff), badSeg.size); err != nil {
			return nil, nil, err
		}
		for _, seq := range seqs[bad+1:] {
			if err := os.Remove(w.path(seq)); err != nil {
				return nil, nil, fmt.Errorf("log: remove %s: %w", w.path(seq), err)
			}
		}
		segs[bad].end = badOff
		if err := w.syncDir(); err != nil {
			return nil, nil, err
		}
	}
	// The writer goes on in the last segment, after its last valid record
	// (none: after the header).
	for _, sg := range segs {
		w.segs = append(w.segs, segment{seq: sg.seq, size: sg.size, lastLSN: sg.lastLSN})
	}
	if n := len(segs); n > 0 {
		cur := segs[n-1]
		f, err := os.OpenFile(w.path(cur.seq), os.O_RDWR, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("log: open %s: %w", w.path(cur.seq), err)
		}
		w.f, w.off = f, int64(cur.end)
	} else if err := w.switchSegment(0); err != nil {
		return nil, nil, err
	}
	return recs, notes, nil
}

// load maps segment seq (mapSegment), checks its header and length, and
// returns its bytes with the function that releases them (a no-op after
// an error).
func (w *wal) load(seq uint64) ([]byte, func(), error) {
	nop := func() {}
	path := w.path(seq)
	f, err := os.Open(path)
	if err != nil {
		return nil, nop, fmt.Errorf("log: read %s: %w", path, err)
	}
	defer f.Close() // the mapping outlives the descriptor
	info, err := f.Stat()
	if err != nil {
		return nil, nop, fmt.Errorf("log: read %s: %w", path, err)
	}
	size := info.Size()
	if size < walHeaderLen || int64(int(size)) != size {
		return nil, nop, fmt.Errorf("%w: %s: %d bytes is not a write-ahead log segment", ErrCorrupt, path, size)
	}
	data, release, err := mapSegment(f, size)
	if err != nil {
		return nil, nop, fmt.Errorf("log: read %s: %w", path, err)
	}
	if !bytes.Equal(data[:8], walMagic) || data[8] != recordVersion {
		release()
		return nil, nop, fmt.Errorf("%w: %s: not a write-ahead log segment of record version %d", ErrCorrupt, path, recordVersion)
	}
	// Segments are created whole (written under a temporary name, then
	// renamed), so a shorter one was cut: the records it held after the
	// cut may have been acknowledged.
	if size < w.segSize {
		release()
		return nil, nop, fmt.Errorf("%w: %s: truncated to %d bytes (a segment is %d bytes)", ErrCorrupt, path, size, w.segSize)
	}
	return data, release, nil
}

// damaged is the error for a damaged record at badOff in segment badSeq
// followed by valid record lsn at offset at in segment seq.
func (w *wal) damaged(badSeq uint64, badOff int, lsn, seq uint64, at int) error {
	return fmt.Errorf("%w: %s at offset %d: a damaged record is followed by valid record %d in %s at offset %d",
		ErrCorrupt, w.path(badSeq), badOff, lsn, w.path(seq), at)
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// zeroFrom overwrites segment seq with zeros from off to end and syncs it.
func (w *wal) zeroFrom(seq uint64, off, end int64) error {
	f, err := os.OpenFile(w.path(seq), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("log: open %s: %w", w.path(seq), err)
	}
	defer f.Close()
	if err := writeZeros(f, off, end); err != nil {
		return fmt.Errorf("log: zero %s: %w", w.path(seq), err)
	}
	return f.Sync()
}

// zeroBytes is what writeZeros writes: never written to, so it stays the
// kernel's shared zero page and costs no memory.
var zeroBytes [zeroChunk]byte

func writeZeros(f *os.File, off, end int64) error {
	zeros := zeroBytes[:min(zeroChunk, max(end-off, 0))]
	for off < end {
		n := min(int64(len(zeros)), end-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// frameRecord fills in the header of the record in buf (walRecHeaderLen
// free bytes, then the body) for the given LSN and pads it to 8 bytes: what
// append writes.
func frameRecord(lsn uint64, buf []byte) []byte {
	body := len(buf) - walRecHeaderLen
	for len(buf) < int(recordSize(body)) {
		buf = append(buf, 0)
	}
	binary.BigEndian.PutUint32(buf, uint32(body))
	binary.BigEndian.PutUint64(buf[8:], lsn)
	crc := record.Checksum(buf[:4])
	crc = record.UpdateChecksum(crc, buf[8:walRecHeaderLen+body])
	binary.BigEndian.PutUint32(buf[4:], crc)
	return buf
}

// append writes one record with the given LSN; buf holds walRecHeaderLen
// free bytes, then the body, and is extended with the padding. When append
// returns nil the record is durable (unless the WAL was opened with
// nosync).
func (w *wal) append(lsn uint64, buf []byte) error {
	buf = frameRecord(lsn, buf)
	size := int64(len(buf))

	w.mu.Lock()
	defer w.mu.Unlock()
	cur := &w.segs[len(w.segs)-1]
	if w.off+size > cur.size {
		if err := w.switchSegment(size); err != nil {
			return err
		}
		cur = &w.segs[len(w.segs)-1]
	}
	err := diskfault.Check(diskfault.WALWrite, w.f.Name())
	if err == nil {
		_, err = w.f.WriteAt(buf[:size], w.off)
	}
	if err != nil {
		return fmt.Errorf("log: write %s: %w", w.f.Name(), err)
	}
	if !w.nosync {
		err := diskfault.Check(diskfault.WALSync, w.f.Name())
		if err == nil {
			err = datasync(w.f)
		}
		if err != nil {
			return fmt.Errorf("log: sync %s: %w", w.f.Name(), err)
		}
	}
	w.off += size
	cur.lastLSN = lsn
	return nil
}

// switchSegment starts the next segment, large enough for a record of
// need bytes: the spare if it is ready and large enough, else a new one.
// The segment's name is durable before anything is written to it. w.mu
// held (or the wal not yet shared).
func (w *wal) switchSegment(need int64) error {
	var seq uint64
	if n := len(w.segs); n > 0 {
		seq = w.segs[n-1].seq + 1
	}
	path := w.path(seq)
	size := w.segSize
	if need > size-walHeaderLen {
		size = (walHeaderLen + need + zeroChunk - 1) &^ (zeroChunk - 1)
	}
	if w.spare && size == w.segSize {
		if err := os.Rename(filepath.Join(w.dir, spareName), path); err != nil {
			return fmt.Errorf("log: rename the spare segment to %s: %w", path, err)
		}
		w.spare = false
		w.kickPreparer()
	} else {
		if err := createSegment(path+".tmp", size); err != nil {
			return err
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return fmt.Errorf("log: rename %s.tmp: %w", path, err)
		}
	}
	if err := w.syncDir(); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("log: open %s: %w", path, err)
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.off = f, walHeaderLen
	w.segs = append(w.segs, segment{seq: seq, size: size})
	return nil
}

// createSegment writes a new segment of size bytes (header, zeros) at path
// and syncs it; callers rename it into place. A leftover file at path is
// replaced; on failure nothing is left at path.
func createSegment(path string, size int64) (err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("log: create %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("log: close %s: %w", path, cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	header := make([]byte, walHeaderLen)
	copy(header, walMagic)
	header[8] = recordVersion
	if _, err := f.WriteAt(header, 0); err != nil {
		return fmt.Errorf("log: write %s: %w", path, err)
	}
	if err := writeZeros(f, walHeaderLen, size); err != nil {
		return fmt.Errorf("log: preallocate %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("log: sync %s: %w", path, err)
	}
	return nil
}

// release deletes the segments whose records all have an LSN at or below
// lsn, except the one being written.
func (w *wal) release(lsn uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := 0
	for k < len(w.segs)-1 && w.segs[k].lastLSN <= lsn {
		k++
	}
	if k == 0 {
		return nil
	}
	for _, sg := range w.segs[:k] {
		if err := os.Remove(w.path(sg.seq)); err != nil {
			return fmt.Errorf("log: remove %s: %w", w.path(sg.seq), err)
		}
	}
	w.segs = append(w.segs[:0], w.segs[k:]...)
	return nil
}

// segmentCount reports how many segments hold (or will hold) records, for
// tests and metrics.
func (w *wal) segmentCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.segs)
}

func (w *wal) kickPreparer() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// prepareLoop is the preparer goroutine: owned by the wal, it ends when
// close closes stop. It keeps a spare segment ready, so that a switch
// rarely writes zeros on the write path.
func (w *wal) prepareLoop() {
	defer close(w.done)
	w.kickPreparer()
	for {
		select {
		case <-w.stop:
			return
		case <-w.kick:
		}
		w.mu.Lock()
		have := w.spare
		w.mu.Unlock()
		if have {
			continue
		}
		tmp := filepath.Join(w.dir, spareName+".tmp")
		if err := createSegment(tmp, w.segSize); err != nil {
			// The write path creates its segment itself when no spare is
			// ready; it reports the error then.
			w.logger.Warn("log: cannot prepare a spare write-ahead log segment", "dir", w.dir, "err", err)
			continue
		}
		// The rename happens under mu, so that it never races a switch
		// that takes the spare meanwhile.
		w.mu.Lock()
		if w.spare {
			os.Remove(tmp)
		} else if err := os.Rename(tmp, filepath.Join(w.dir, spareName)); err != nil {
			w.logger.Warn("log: cannot prepare a spare write-ahead log segment", "dir", w.dir, "err", err)
			os.Remove(tmp)
		} else {
			w.spare = true
		}
		w.mu.Unlock()
	}
}

// syncDir makes the directory's entries durable.
func (w *wal) syncDir() error {
	if w.nosync {
		return nil
	}
	d, err := os.Open(w.dir)
	if err != nil {
		return fmt.Errorf("log: open %s: %w", w.dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("log: sync %s: %w", w.dir, err)
	}
	return nil
}

// close stops the preparer and closes the segment being written.
func (w *wal) close() error {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("log: close %s: %w", w.dir, err)
	}
	return nil
}
