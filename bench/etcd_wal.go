package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"

	pb "go.etcd.io/raft/v3/raftpb"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// The etcd harness's write-ahead log is one append-only file of records:
//
//	u32 big-endian n | kind byte | payload (n-1 bytes) | u32 CRC-32C of kind+payload
//
// kind 1 is a raftpb.HardState, kind 2 a raftpb.Entry (protobuf). Entries
// are replayed in file order; an entry whose index is at or below the last
// replayed one overwrites it and every later one (a new leader truncated a
// divergent suffix), exactly as raft.MemoryStorage.Append does.
const (
	walKindHardState = 1
	walKindEntry     = 2
	// walMaxRecord bounds a record's length before allocation.
	walMaxRecord = 64 << 20
)

var (
	errWALCorrupt = errors.New("bench: etcd wal: corrupt record")
	crcTable      = crc32.MakeTable(crc32.Castagnoli)
)

// etcdWAL is the durable log of one etcd harness node. Not safe for
// concurrent use: the node's loop goroutine owns it.
type etcdWAL struct {
	f   *os.File
	buf []byte
}

// appendRecord encodes one record of kind k into b.
func appendRecord(b []byte, k byte, m proto.Message) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, k)
	b, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		return b[:start], err
	}
	n := len(b) - start - 4
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start+4:], crcTable)), nil
}

// decodeWAL replays data. It returns the last HardState (nil if none), the
// entries after overwrites, and the length of the valid prefix: a torn or
// corrupt tail (a crash during a write) ends the replay there. A record
// that is intact but does not make sense (an entry leaving a gap) is an
// error.
func decodeWAL(data []byte) (hs *pb.HardState, ents []*pb.Entry, good int, err error) {
	off := 0
	for off < len(data) {
		if len(data)-off < 9 {
			break
		}
		n := int(binary.BigEndian.Uint32(data[off:]))
		if n < 1 || n > walMaxRecord || len(data)-off-8 < n {
			break
		}
		body := data[off+4 : off+4+n]
		if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(data[off+4+n:]) {
			break
		}
		switch body[0] {
		case walKindHardState:
			h := &pb.HardState{}
			if err := proto.Unmarshal(body[1:], h); err != nil {
				return nil, nil, off, fmt.Errorf("%w: hard state at %d: %v", errWALCorrupt, off, err)
			}
			hs = h
		case walKindEntry:
			e := &pb.Entry{}
			if err := proto.Unmarshal(body[1:], e); err != nil {
				return nil, nil, off, fmt.Errorf("%w: entry at %d: %v", errWALCorrupt, off, err)
			}
			if len(ents) > 0 {
				first, last := ents[0].GetIndex(), ents[len(ents)-1].GetIndex()
				switch {
				case e.GetIndex() > last+1:
					return nil, nil, off, fmt.Errorf("%w: entry %d after %d", errWALCorrupt, e.GetIndex(), last)
				case e.GetIndex() <= first:
					ents = ents[:0]
				case e.GetIndex() <= last:
					ents = ents[:e.GetIndex()-first]
				}
			}
			ents = append(ents, e)
		default:
			return nil, nil, off, fmt.Errorf("%w: kind %d at %d", errWALCorrupt, body[0], off)
		}
		off += 8 + n
	}
	return hs, ents, off, nil
}

// openEtcdWAL opens (or creates) the log at path, replays it, and cuts a
// torn tail so that later appends follow the last valid record.
func openEtcdWAL(path string) (*etcdWAL, *pb.HardState, []*pb.Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil, err
	}
	hs, ents, good, err := decodeWAL(data)
	if err != nil {
		return nil, nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, nil, nil, err
	}
	if good < len(data) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, nil, nil, err
		}
	}
	if _, err := f.Seek(int64(good), 0); err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	return &etcdWAL{f: f}, hs, ents, nil
}

// save appends hs (if not nil) and ents in one write, then fdatasyncs if
// sync is set (raft's Ready.MustSync: new entries, term or vote). A commit
// index change alone is written without a sync, as etcd does.
func (w *etcdWAL) save(hs *pb.HardState, ents []*pb.Entry, sync bool) error {
	if hs == nil && len(ents) == 0 {
		return nil
	}
	b := w.buf[:0]
	var err error
	for _, e := range ents {
		if b, err = appendRecord(b, walKindEntry, e); err != nil {
			return err
		}
	}
	if hs != nil {
		if b, err = appendRecord(b, walKindHardState, hs); err != nil {
			return err
		}
	}
	w.buf = b
	if len(w.buf) > 4<<20 {
		w.buf = nil // do not pin a large buffer after a burst
	}
	if _, err := w.f.Write(b); err != nil {
		return err
	}
	if sync {
		return unix.Fdatasync(int(w.f.Fd()))
	}
	return nil
}

func (w *etcdWAL) close() error { return w.f.Close() }
