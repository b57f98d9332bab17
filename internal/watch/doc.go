// Package watch fans the changes the state machine applies out to
// watchers, each over a key range, in revision order, without ever making
// apply wait for a watcher.
//
// # Design
//
// The apply goroutine publishes the events of each command (Publish, one
// call per revision with events) and then the applied index (Advance, once
// per batch). The Hub keeps:
//
//   - a ring of the most recent changes, bounded in bytes (Options.
//     CacheBytes), complete over (floor, head]: a watcher that starts in
//     the recent past, or falls a little behind, reads it;
//   - the live watchers, indexed by range: a prefix watcher in a map by
//     prefix (probed with the prefix lengths that are watched), any other
//     range in a list. Publish appends to each matching watcher's queue
//     the change filtered to its range: one slice append per matching
//     watcher, nothing for the others.
//
// A watcher's queue is bounded in bytes (Options.BufferBytes). When a
// change would overflow it, the watcher leaves the live index and goes on
// from that revision by reading the ring; when the ring has moved past it,
// Next returns a *BehindError and the caller replays that stretch from
// the log (the package does not read logs: the caller owns the history),
// then hands the position back with Resume. A watcher that is caught up
// rejoins the live index under the hub's lock, so there is no gap between
// the three sources and no change is delivered twice.
//
// Memory: the ring's bytes, plus per watcher its queue's bytes (changes
// are shared with the ring when the whole change is in range). Events
// alias the state machine's immutable items (see kv.Event), so a change
// costs its events' headers while the items are still live.
package watch
