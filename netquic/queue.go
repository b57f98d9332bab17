package netquic

import (
	"sync"

	"github.com/yggrdb/yggr/engine"
)

// sendQueue is a bounded FIFO of messages for one peer that never blocks
// the producer: when it holds maxLen messages or more than maxBytes
// (estimated), it drops the oldest. Raft retransmits whatever is lost.
type sendQueue struct {
	mu       sync.Mutex
	ring     []engine.Message // capacity maxLen, allocated on first push
	head, n  int
	bytes    int // estimated size of the queued messages
	maxLen   int
	maxBytes int
	// notify holds a token when the queue became non-empty since the
	// consumer last looked.
	notify chan struct{}
}

func newSendQueue(maxLen, maxBytes int) *sendQueue {
	return &sendQueue{maxLen: max(maxLen, 1), maxBytes: maxBytes, notify: make(chan struct{}, 1)}
}

// messageBytes estimates the memory a queued message pins.
func messageBytes(m *engine.Message) int {
	n := 128 + len(m.Data)
	for i := range m.Entries {
		n += 48 + len(m.Entries[i].Data)
	}
	return n
}

// push appends m and returns how many old messages it dropped to make room.
func (q *sendQueue) push(m engine.Message) (dropped int) {
	size := messageBytes(&m)
	q.mu.Lock()
	if q.ring == nil {
		q.ring = make([]engine.Message, q.maxLen)
	}
	for q.n > 0 && (q.n == q.maxLen || q.bytes+size > q.maxBytes) {
		q.dropHeadLocked()
		dropped++
	}
	q.ring[(q.head+q.n)%q.maxLen] = m
	q.n++
	q.bytes += size
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return dropped
}

func (q *sendQueue) dropHeadLocked() {
	q.bytes -= messageBytes(&q.ring[q.head])
	q.ring[q.head] = engine.Message{} // release its memory
	q.head = (q.head + 1) % q.maxLen
	q.n--
}

// popBatch moves messages from the head into dst, at least one if any,
// until about maxBytes are taken, and returns dst.
func (q *sendQueue) popBatch(dst []engine.Message, maxBytes int) []engine.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	taken := 0
	for q.n > 0 && (taken == 0 || taken+messageBytes(&q.ring[q.head]) <= maxBytes) {
		m := q.ring[q.head]
		dst = append(dst, m)
		taken += messageBytes(&m)
		q.dropHeadLocked()
	}
	return dst
}

// len returns the number of queued messages.
func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// clear drops everything and returns how many messages it dropped.
func (q *sendQueue) clear() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.n
	for q.n > 0 {
		q.dropHeadLocked()
	}
	return n
}
