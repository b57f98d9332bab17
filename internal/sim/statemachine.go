package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/yggrdb/yggr/engine"
)

// stateMachine is a node's simulated KV state machine: a map of "put k v"
// commands and a running hash over every applied entry, so two nodes at the
// same applied index agree iff they applied the same entries.
type stateMachine struct {
	kv          map[string]string
	applied     uint64
	appliedTerm uint64
	hash        uint64
	membership  engine.Membership
}

func newStateMachine(m engine.Membership) *stateMachine {
	return &stateMachine{kv: map[string]string{}, membership: m}
}

// entryHash identifies an entry's content.
func entryHash(e engine.Entry) uint64 {
	h := fnv.New64a()
	var b [17]byte
	binary.BigEndian.PutUint64(b[0:], e.Term)
	binary.BigEndian.PutUint64(b[8:], e.Index)
	b[16] = byte(e.Type)
	h.Write(b[:])
	h.Write(e.Data)
	return h.Sum64()
}

func chainHash(prev, entry uint64) uint64 {
	h := fnv.New64a()
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:], prev)
	binary.BigEndian.PutUint64(b[8:], entry)
	h.Write(b[:])
	return h.Sum64()
}

// putCommand encodes a client write.
func putCommand(key, val string) []byte { return []byte("put " + key + " " + val) }

// parsePut decodes a client write; ok is false for anything else.
func parsePut(data []byte) (key, val string, ok bool) {
	s, found := strings.CutPrefix(string(data), "put ")
	if !found {
		return "", "", false
	}
	key, val, ok = strings.Cut(s, " ")
	return key, val, ok
}

// apply applies e, which must be the next entry.
func (sm *stateMachine) apply(e engine.Entry) error {
	if e.Index != sm.applied+1 {
		return fmt.Errorf("ApplyEntries gives %s after applied index %d", e, sm.applied)
	}
	switch e.Type {
	case engine.EntryNormal:
		if k, v, ok := parsePut(e.Data); ok {
			sm.kv[k] = v
		}
	case engine.EntryConfig:
		_, m, err := engine.UnmarshalConfig(e.Data)
		if err != nil {
			return fmt.Errorf("ApplyEntries %s: bad config entry: %v", e, err)
		}
		sm.membership = m
	}
	sm.applied, sm.appliedTerm = e.Index, e.Term
	sm.hash = chainHash(sm.hash, entryHash(e))
	return nil
}

// snapshotImage is the decoded content of snapshot bytes.
type snapshotImage struct {
	index, term, hash uint64
	kv                map[string]string
}

const snapshotMagic = "YSIM1"

// encode serializes the state machine at its applied index.
func (sm *stateMachine) encode() []byte {
	b := []byte(snapshotMagic)
	b = binary.BigEndian.AppendUint64(b, sm.applied)
	b = binary.BigEndian.AppendUint64(b, sm.appliedTerm)
	b = binary.BigEndian.AppendUint64(b, sm.hash)
	keys := make([]string, 0, len(sm.kv))
	for k := range sm.kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		v := sm.kv[k]
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	sum := fnv.New64a()
	sum.Write(b)
	return binary.BigEndian.AppendUint64(b, sum.Sum64())
}

var errBadSnapshot = errors.New("sim: bad snapshot bytes")

func decodeSnapshot(b []byte) (snapshotImage, error) {
	var img snapshotImage
	if len(b) < len(snapshotMagic)+32 || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return img, errBadSnapshot
	}
	body, tail := b[:len(b)-8], b[len(b)-8:]
	sum := fnv.New64a()
	sum.Write(body)
	if sum.Sum64() != binary.BigEndian.Uint64(tail) {
		return img, fmt.Errorf("%w: checksum", errBadSnapshot)
	}
	r := body[len(snapshotMagic):]
	img.index = binary.BigEndian.Uint64(r)
	img.term = binary.BigEndian.Uint64(r[8:])
	img.hash = binary.BigEndian.Uint64(r[16:])
	r = r[24:]
	n, k := binary.Uvarint(r)
	if k <= 0 || n > uint64(len(r)) {
		return img, errBadSnapshot
	}
	r = r[k:]
	img.kv = make(map[string]string, n)
	str := func() (string, bool) {
		l, k := binary.Uvarint(r)
		if k <= 0 || l > uint64(len(r)-k) {
			return "", false
		}
		s := string(r[k : k+int(l)])
		r = r[k+int(l):]
		return s, true
	}
	for range n {
		key, ok1 := str()
		val, ok2 := str()
		if !ok1 || !ok2 {
			return img, errBadSnapshot
		}
		img.kv[key] = val
	}
	if len(r) != 0 {
		return img, fmt.Errorf("%w: trailing bytes", errBadSnapshot)
	}
	return img, nil
}

// restore replaces the state machine with a snapshot image.
func (sm *stateMachine) restore(img snapshotImage, m engine.Membership) {
	sm.kv = img.kv
	sm.applied, sm.appliedTerm, sm.hash = img.index, img.term, img.hash
	sm.membership = m
}
