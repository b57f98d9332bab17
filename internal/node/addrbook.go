package node

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/durable"
)

// addrBook maps member IDs to their peer addresses. Addresses arrive with
// membership changes (ConfChange.Addr) and travel inside snapshots; the
// book is also kept in dir/members.json so a restarted node can dial its
// peers before it has replayed anything.
type addrBook struct {
	mu    sync.Mutex
	addrs map[engine.NodeID]string
	path  string // "" for in-memory nodes
}

func newAddrBook(dir string, initial map[engine.NodeID]string) (*addrBook, error) {
	b := &addrBook{addrs: maps.Clone(initial)}
	if b.addrs == nil {
		b.addrs = map[engine.NodeID]string{}
	}
	if dir == "" {
		return b, nil
	}
	b.path = filepath.Join(dir, "members.json")
	data, err := os.ReadFile(b.path)
	switch {
	case os.IsNotExist(err):
		return b, b.save()
	case err != nil:
		return nil, err
	}
	var stored map[engine.NodeID]string
	if err := json.Unmarshal(data, &stored); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, b.path, err)
	}
	for id, a := range stored {
		if _, given := b.addrs[id]; !given {
			b.addrs[id] = a
		}
	}
	return b, nil
}

func (b *addrBook) get(id engine.NodeID) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addrs[id]
}

func (b *addrBook) all() map[engine.NodeID]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.addrs)
}

// set records an address; it reports whether anything changed.
func (b *addrBook) set(id engine.NodeID, addr string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if addr == "" || b.addrs[id] == addr {
		return false
	}
	b.addrs[id] = addr
	_ = b.saveLocked()
	return true
}

// replace installs a whole book (from a snapshot).
func (b *addrBook) replace(m map[engine.NodeID]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, a := range m {
		b.addrs[id] = a
	}
	_ = b.saveLocked()
}

// forget deletes the addresses of the members keep refuses and returns
// their IDs, sorted.
func (b *addrBook) forget(keep func(engine.NodeID) bool) []engine.NodeID {
	b.mu.Lock()
	defer b.mu.Unlock()
	var gone []engine.NodeID
	for id := range b.addrs {
		if !keep(id) {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	for _, id := range gone {
		delete(b.addrs, id)
	}
	_ = b.saveLocked()
	slices.Sort(gone)
	return gone
}

func (b *addrBook) save() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.saveLocked()
}

// saveLocked writes the book atomically and durably.
func (b *addrBook) saveLocked() error {
	if b.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(b.addrs, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(b.path, data)
}
