package engine

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// The chunked store behaves as a plain slice of (entry, length) under any
// sequence of appends, truncations and prefix drops; it holds no data of an
// entry it dropped, and no more chunks than its entries need (plus one
// spare).
func TestEntryStoreModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var s entryStore
		var model []Entry
		var lens []uint32
		next := uint64(1)
		for range rapid.IntRange(1, 60).Draw(t, "ops") {
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0, 1: // append a run, often across a chunk boundary
				for range rapid.IntRange(1, 3*chunkLen).Draw(t, "n") {
					e := Entry{Term: 1, Index: next, Data: []byte{byte(next)}}
					size := uint32(next % 1000)
					s.push(e, size)
					model, lens = append(model, e), append(lens, size)
					next++
				}
			case 2:
				k := rapid.IntRange(0, len(model)).Draw(t, "keep")
				s.truncate(k)
				model, lens = model[:k], lens[:k]
				next = uint64(1)
				if k > 0 {
					next = model[k-1].Index + 1
				}
			case 3:
				k := rapid.IntRange(0, len(model)).Draw(t, "drop")
				s.dropFront(k)
				model, lens = model[k:], lens[k:]
			}
			checkEntryStore(t, &s, model, lens)
		}
	})
}

func checkEntryStore(t *rapid.T, s *entryStore, model []Entry, lens []uint32) {
	if s.len() != len(model) {
		t.Fatalf("len %d, model %d", s.len(), len(model))
	}
	for k := range model {
		if e := s.at(k); e.Index != model[k].Index || !slices.Equal(e.Data, model[k].Data) || s.lenAt(k) != lens[k] {
			t.Fatalf("position %d: %v weighing %d, model %v weighing %d", k, e, s.lenAt(k), model[k], lens[k])
		}
	}
	if len(model) > 0 {
		lo := rapid.IntRange(0, len(model)-1).Draw(t, "lo")
		hi := rapid.IntRange(lo, len(model)).Draw(t, "hi")
		got := s.copyRange(lo, hi)
		if len(got) != hi-lo || cap(got) != hi-lo || (hi > lo && (got[0].Index != model[lo].Index || got[len(got)-1].Index != model[hi-1].Index)) {
			t.Fatalf("copyRange(%d, %d) = %d entries", lo, hi, len(got))
		}
	}
	if want := (s.head + s.n + chunkLen - 1) / chunkLen; len(s.chunks) != want {
		t.Fatalf("%d chunks for head %d and %d entries, want %d", len(s.chunks), s.head, s.n, want)
	}
	if s.head >= chunkLen || (s.n == 0 && s.head != 0) {
		t.Fatalf("head %d with %d entries", s.head, s.n)
	}
	for ci, c := range append(slices.Clone(s.chunks), s.spare) {
		if c == nil {
			continue
		}
		for off := range chunkLen {
			p := ci*chunkLen + off
			if held := ci < len(s.chunks) && p >= s.head && p < s.head+s.n; !held && c.es[off].Data != nil {
				t.Fatalf("chunk %d slot %d still refers to the data of dropped entry %v", ci, off, c.es[off])
			}
		}
	}
}

// Dropping most of a long log gives the chunk slice's capacity back: a
// capacity over 64 and over four times the chunks still needed becomes
// twice what is needed; otherwise it is kept.
func TestEntryStoreGivesBackCapacity(t *testing.T) {
	for _, c := range []struct {
		capacity, keep, wantCap int
	}{
		{64, 1, 64},  // not over 64: kept
		{68, 17, 68}, // exactly four times: kept
		{68, 16, 32},
		{400, 1, 2},
	} {
		s := entryStore{chunks: make([]*entryChunk, c.capacity)}
		for i := range s.chunks {
			s.chunks[i] = new(entryChunk)
			for k := range chunkLen {
				s.chunks[i].es[k].Index = uint64(i*chunkLen + k + 1)
			}
		}
		s.n = c.capacity * chunkLen
		s.dropFront((c.capacity - c.keep) * chunkLen)
		if len(s.chunks) != c.keep || cap(s.chunks) != c.wantCap {
			t.Errorf("capacity %d, keep %d chunks: %d chunks, capacity %d, want %d", c.capacity, c.keep, len(s.chunks), cap(s.chunks), c.wantCap)
		}
		if first := s.at(0).Index; first != uint64((c.capacity-c.keep)*chunkLen+1) || s.len() != c.keep*chunkLen {
			t.Errorf("capacity %d, keep %d chunks: first index %d, %d entries", c.capacity, c.keep, first, s.len())
		}
	}
}

// A chunk emptied by a drop is reused by the next append.
func TestEntryStoreReusesChunk(t *testing.T) {
	var s entryStore
	for i := range 2 * chunkLen {
		s.push(Entry{Index: uint64(i + 1)}, 0)
	}
	first := s.chunks[0]
	s.dropFront(chunkLen)
	if s.spare != first {
		t.Fatal("the emptied chunk is not kept as the spare")
	}
	s.push(Entry{Index: 2*chunkLen + 1}, 0)
	if s.spare != nil || s.chunks[len(s.chunks)-1] != first {
		t.Fatal("the append did not reuse the spare chunk")
	}
}

func BenchmarkEntryStorePush(b *testing.B) {
	b.ReportAllocs()
	var l raftLog
	for i := range b.N {
		l.appendSized(Entry{Term: 1, Index: uint64(i + 1)}, 128)
		if l.entries.len() == 100_000 {
			l.applied, l.commit, l.persisted = l.lastIndex(), l.lastIndex(), l.lastIndex()
			l.compact(l.lastIndex() - 5000)
		}
	}
}

// Truncating one short of, at, and one past a chunk boundary, from a store
// whose first entry is not at a chunk's start, keeps exactly the chunks
// the entries left need.
func TestEntryStoreTruncateAtChunkBoundaries(t *testing.T) {
	for _, head := range []int{0, 1, chunkLen - 1} {
		for _, end := range []int{chunkLen - 1, chunkLen, chunkLen + 1, 2*chunkLen - 1, 2 * chunkLen} {
			var s entryStore
			for i := range head + 3*chunkLen {
				s.push(Entry{Index: uint64(i + 1)}, 0)
			}
			s.dropFront(head)
			k := end - head // keep positions up to chunk position end
			if k <= 0 {
				continue // truncate(0) empties the store (the model test covers it)
			}
			s.truncate(k)
			if want := (head + k + chunkLen - 1) / chunkLen; len(s.chunks) != want || s.len() != k {
				t.Errorf("head %d, truncate to %d: %d chunks, %d entries; want %d chunks", head, k, len(s.chunks), s.len(), want)
			}
		}
	}
}
