package kv

import "runtime"

// Event is one change a command made to one key: a put (the new item) or
// a delete, with the item before it. Apply records the events of each
// command when recording is on (see Record), in the order the command
// made them: a transaction that puts one key twice makes two events.
// Deleting a missing key changes nothing and makes no event; a failed
// compare makes none either, only the branch that ran does.
//
// An Event aliases immutable tree entries: it costs no copy to make, and
// keeps the items it names alive while it is held (through pins: see
// arena). Key's string is valid while the Event is held.
type Event struct {
	cur  entry // the item after a put; zero after a delete
	prev entry // the item before; zero if the key did not exist
	pins *pinSet
}

// IsDelete reports whether the event deleted its key.
func (ev Event) IsDelete() bool { return ev.cur.ref == nil }

// Key returns the key, without copying.
func (ev Event) Key() string {
	if ev.cur.ref != nil {
		return ev.cur.key()
	}
	return ev.prev.key()
}

// Item returns a copy of the item after a put. After a delete it is only
// the key and ModIndex (the revision of the delete, which the caller
// passes: a deleted item records no index of its own).
func (ev Event) Item(revision uint64) Item {
	defer runtime.KeepAlive(ev.pins)
	if ev.cur.ref != nil {
		return ev.cur.item()
	}
	return Item{Key: []byte(ev.prev.key()), ModIndex: revision}
}

// Prev returns a copy of the item before the change, and false if the key
// did not exist.
func (ev Event) Prev() (Item, bool) {
	defer runtime.KeepAlive(ev.pins)
	if ev.prev.ref == nil {
		return Item{}, false
	}
	return ev.prev.item(), true
}

// Weight is the memory the event keeps alive, for byte bounds: its items'
// blobs and a fixed overhead.
func (ev Event) Weight() int { return len(ev.cur.blob()) + len(ev.prev.blob()) + eventOverhead }

// eventOverhead is the Event struct itself and a share of its slice.
const eventOverhead = 56

// Record turns event recording on (events non-nil) or off (nil): each
// Apply then appends the events of its command to *events. The caller
// owns the slice and empties it between commands. Call it from the apply
// goroutine only, like Apply.
func (s *Store) Record(events *[]Event) {
	s.mu.Lock()
	s.rec = events
	s.mu.Unlock()
}
