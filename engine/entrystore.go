package engine

// entryStore holds the live log's entries, each with the length its data
// had when appended, in fixed-size chunks: appending never copies the
// entries already held, and dropping a prefix frees whole chunks.
//
// A single slice regrew by doubling after every compaction: at 100k
// entries each regrowth copied megabytes of entry headers into memory the
// kernel had to fault in, 3% of a three-node cluster's CPU under writes at
// concurrency 64 and 8% of a follower's catching up (profiles in the
// commit that introduced this type).
//
// Positions count from 0, the first entry held.
type entryStore struct {
	chunks []*entryChunk
	head   int // position in chunks[0] of the first entry
	n      int
	spare  *entryChunk // an emptied chunk kept for the next append
}

// chunkLen entries make a chunk of 13 KiB: a small object for the
// allocator, and little memory held beyond the live entries.
const chunkLen = 256

type entryChunk struct {
	es   [chunkLen]Entry
	lens [chunkLen]uint32
}

func (s *entryStore) len() int { return s.n }

// at returns the entry at position k < len().
func (s *entryStore) at(k int) *Entry {
	p := s.head + k
	return &s.chunks[p/chunkLen].es[p%chunkLen]
}

// lenAt returns the appended data length of the entry at position k.
func (s *entryStore) lenAt(k int) uint32 {
	p := s.head + k
	return s.chunks[p/chunkLen].lens[p%chunkLen]
}

// push appends e, weighing size bytes.
func (s *entryStore) push(e Entry, size uint32) {
	p := s.head + s.n
	if p == len(s.chunks)*chunkLen {
		c := s.spare
		if c == nil {
			c = new(entryChunk)
		}
		s.spare = nil
		s.chunks = append(s.chunks, c)
	}
	c := s.chunks[p/chunkLen]
	c.es[p%chunkLen], c.lens[p%chunkLen] = e, size
	s.n++
}

// copyRange returns a new slice holding the entries at positions [lo, hi).
func (s *entryStore) copyRange(lo, hi int) []Entry {
	out := make([]Entry, 0, hi-lo)
	for lo < hi {
		p := s.head + lo
		c, off := s.chunks[p/chunkLen], p%chunkLen
		k := min(chunkLen-off, hi-lo)
		out = append(out, c.es[off:off+k]...)
		lo += k
	}
	return out
}

// truncate keeps the first k entries (k ≤ len()).
func (s *entryStore) truncate(k int) {
	s.clearRange(k, s.n)
	s.n = k
	keep := (s.head + k + chunkLen - 1) / chunkLen
	if s.n == 0 {
		keep, s.head = 0, 0
	}
	s.release(s.chunks[keep:])
	clear(s.chunks[keep:])
	s.chunks = s.chunks[:keep]
}

// dropFront removes the first k entries (k ≤ len()). The chunk slice keeps
// its capacity only while it is at most four times what is still needed.
func (s *entryStore) dropFront(k int) {
	if k == s.n {
		s.truncate(0)
		return
	}
	s.clearRange(0, k)
	s.head += k
	s.n -= k
	d := s.head / chunkLen
	s.release(s.chunks[:d])
	s.head -= d * chunkLen
	rest := len(s.chunks) - d
	if c := cap(s.chunks); c > 64 && c > 4*rest {
		s.chunks = append(make([]*entryChunk, 0, 2*rest), s.chunks[d:]...)
		return
	}
	copy(s.chunks, s.chunks[d:])
	clear(s.chunks[rest:])
	s.chunks = s.chunks[:rest]
}

// clearRange zeroes the entries at positions [lo, hi), so that their data
// can be freed.
func (s *entryStore) clearRange(lo, hi int) {
	for lo < hi {
		p := s.head + lo
		c, off := s.chunks[p/chunkLen], p%chunkLen
		k := min(chunkLen-off, hi-lo)
		clear(c.es[off : off+k])
		lo += k
	}
}

// release keeps one of the emptied chunks cs as the spare.
func (s *entryStore) release(cs []*entryChunk) {
	if len(cs) > 0 && s.spare == nil {
		s.spare = cs[0]
	}
}
