package yggr

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/durable"
	"github.com/yggrdb/yggr/internal/node"
	"github.com/yggrdb/yggr/netquic"
)

// defaultID names a single-node database's only node.
const defaultID = "n1"

// parsePeers parses "id=host:port" entries.
func parsePeers(peers []string) (map[engine.NodeID]string, error) {
	if len(peers) == 0 {
		return nil, nil
	}
	m := make(map[engine.NodeID]string, len(peers))
	for _, p := range peers {
		id, addr, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !engine.ValidNodeID(engine.NodeID(id)) {
			return nil, fmt.Errorf("%w: peer %q: want id=host:port with an id of letters, digits, '-', '_', '.'", ErrConfig, p)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%w: peer %q: %v", ErrConfig, p, err)
		}
		if _, dup := m[engine.NodeID(id)]; dup {
			return nil, fmt.Errorf("%w: peer %q listed twice", ErrConfig, id)
		}
		m[engine.NodeID(id)] = addr
	}
	return m, nil
}

func resolveID(o options, addrs map[engine.NodeID]string) (engine.NodeID, error) {
	id := engine.NodeID(o.id)
	if len(addrs) == 0 && !o.join {
		if id == "" {
			id = defaultID
		}
	} else if id == "" {
		return "", fmt.Errorf("%w: a multi-node database needs WithID", ErrConfig)
	}
	if !engine.ValidNodeID(id) {
		return "", fmt.Errorf("%w: node id %q", ErrConfig, id)
	}
	if len(addrs) > 0 {
		if _, ok := addrs[id]; !ok {
			return "", fmt.Errorf("%w: this node %q is not among the peers", ErrConfig, id)
		}
	}
	return id, nil
}

// clusterID names the cluster by its initial peers (recorded by the log on
// first start, checked on every later start).
func clusterID(addrs map[engine.NodeID]string, join bool) string {
	if join {
		return ""
	}
	ids := slices.Sorted(maps.Keys(addrs))
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// identity is what dir/yggr.json records about the node and its cluster:
// the one record of who this node is and how it was created, written
// durably once, when the first Open has started the node. The log's
// identity record (cluster and node ID in dir/raft) is derived from it
// (clusterID) and only guards the log against being opened as another
// node's; nothing reads it back.
type identity struct {
	ID    string   `json:"id"`
	Peers []string `json:"peers,omitempty"` // initial voters, sorted "id=addr"
	Join  bool     `json:"join,omitempty"`
}

func identityPath(dir string) string { return filepath.Join(dir, "yggr.json") }

// newIdentity is the identity a first Open records: the node and the
// peers it was given.
func newIdentity(id engine.NodeID, addrs map[engine.NodeID]string, join bool) identity {
	want := identity{ID: string(id), Join: join}
	for _, pid := range slices.Sorted(maps.Keys(addrs)) {
		want.Peers = append(want.Peers, string(pid)+"="+addrs[pid])
	}
	return want
}

// checkIdentity returns the identity recorded at creation, or nil on
// first open, and refuses another node ID. A node with data restarts from
// its record whatever bootstrap flags (peers, join) it is given now, since
// its membership is in its log. The first open records its identity
// (writeIdentity) only once it has started: a first open that fails
// leaves none, so a corrected retry is a first open again.
func checkIdentity(dir string, id engine.NodeID) (*identity, error) {
	data, err := os.ReadFile(identityPath(dir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var have identity
	if err := json.Unmarshal(data, &have); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, identityPath(dir), err)
	}
	if have.ID != string(id) {
		return nil, fmt.Errorf("%w: %s belongs to node %q, not %q", ErrConfig, dir, have.ID, id)
	}
	return &have, nil
}

// hasAddress reports whether any "id=addr" entry has an address.
func hasAddress(peers []string) bool {
	for _, p := range peers {
		if _, addr, _ := strings.Cut(p, "="); addr != "" {
			return true
		}
	}
	return false
}

func peerIDs(peers []string) []string {
	out := make([]string, len(peers))
	for i, p := range peers {
		out[i], _, _ = strings.Cut(p, "=")
	}
	return out
}

// writeIdentity records id in dir/yggr.json, durably: a crash leaves the
// old record or the new one, never an empty file (internal/durable).
func writeIdentity(dir string, id identity) error {
	data, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(identityPath(dir), data)
}

// openNetwork starts the QUIC transport with the configured security.
func openNetwork(id engine.NodeID, addrs map[engine.NodeID]string, o options) (node.Network, error) {
	if o.network != nil {
		return o.network, nil
	}
	cfg := netquic.Config{ID: id, ListenAddr: addrs[id], Peers: map[engine.NodeID]string{}, Logger: o.logger}
	if o.listenAddr != "" {
		cfg.ListenAddr = o.listenAddr
	}
	if cfg.ListenAddr == "" {
		return nil, fmt.Errorf("%w: no address to listen on for peers (WithListenAddr)", ErrConfig)
	}
	for pid, a := range addrs {
		if pid != id {
			cfg.Peers[pid] = a
		}
	}
	switch {
	case o.tls != nil:
		cfg.TLS = o.tls
	case o.secret != "":
		caCert, caKey, err := netquic.CAFromSecret(o.secret)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		host, _, _ := net.SplitHostPort(cfg.ListenAddr)
		cert, key, err := netquic.NewNodeCert(caCert, caKey, id, []string{host})
		if err != nil {
			return nil, err
		}
		if cfg.TLS, err = netquic.TLSConfig(caCert, cert, key); err != nil {
			return nil, err
		}
	case o.insecure:
		cfg.Insecure = true
		o.logger.Warn("peer traffic is not authenticated (insecure mode): development only", "node", string(id))
	default:
		return nil, fmt.Errorf("%w: a multi-node database needs WithClusterSecret, WithTLS or (for development) WithInsecure", ErrConfig)
	}
	return netquic.Listen(cfg)
}

// restartAddrs returns the peers to open an existing node with: the
// peers given now if they name this node's address, else those recorded
// at creation (its own address among them), so that a node started with
// --peers or --join restarts with neither. The membership itself comes
// from the log; peers given now that contradict the recorded ones are
// only logged.
func restartAddrs(o options, id engine.NodeID, addrs map[engine.NodeID]string, have identity) (map[engine.NodeID]string, error) {
	if len(addrs) > 0 && !o.join && len(have.Peers) > 0 && !have.Join && !slices.Equal(peerIDs(have.Peers), slices.Sorted(maps.Keys(idSet(addrs)))) {
		o.logger.Warn("ignoring the peers given: this node has data, and its membership is in its log",
			"node", string(id), "given", slices.Sorted(maps.Keys(idSet(addrs))), "created_with", have.Peers)
	}
	if addrs[id] != "" {
		return addrs, nil
	}
	recorded := have.addrs(id)
	if recorded[id] == "" {
		return addrs, nil // created without an address: a single node
	}
	return map[engine.NodeID]string{id: recorded[id]}, nil
}

// addrs returns the recorded peers as Open computed them at creation
// (a node created without peers is {id: ""}). Addresses may be empty.
func (i identity) addrs(id engine.NodeID) map[engine.NodeID]string {
	m := map[engine.NodeID]string{}
	for _, p := range i.Peers {
		pid, addr, _ := strings.Cut(p, "=")
		m[engine.NodeID(pid)] = addr
	}
	if len(m) == 0 {
		m[id] = ""
	}
	return m
}

func idSet(addrs map[engine.NodeID]string) map[string]bool {
	m := make(map[string]bool, len(addrs))
	for id := range addrs {
		m[string(id)] = true
	}
	return m
}
