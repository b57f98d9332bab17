package yggr

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	raftlog "github.com/yggrdb/yggr/log"
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
	if len(addrs) > 0 {
		if _, ok := addrs[id]; !ok {
			return "", fmt.Errorf("%w: this node %q is not among the peers", ErrConfig, id)
		}
	}
	return id, nil
}

// clusterID names the cluster by its initial peers. It is computed from
// the identity record (identity.addrs, identity.Join) whenever it is
// needed, never stored: only the identity record of a log an earlier
// release created holds one, and the log checks it (see identity).
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

// identity is what dir/yggr.json records: who this node is (its ID) and
// how it was created (its initial peers, or to join a cluster), from which
// clusterID is computed.
//
// One home: yggr.json is the only record of a node's identity. Every Open
// reads it (checkIdentity) before it opens the network or the log, and
// nothing else on disk says who the node is: the log (package log) records
// no identity, and the members' addresses (members.json, internal/node)
// are none. It is written durably (internal/durable), once, by the first
// Open, before the log is created (startRecorded), so that no log exists
// without it. In a directory this release created, edit it and the node
// is whoever it then says; lose it and the directory is refused
// (ErrCorrupt), since nothing else could tell whose log it holds.
//
// Earlier releases also recorded the cluster and node ID in the log ('i'
// record, log/format.go), and wrote yggr.json only after the node had
// started, so a crash could leave a log without one. The log keeps such a
// record and checks it against the identity read here (or, with no
// yggr.json, the ID Open is given) on every open: a difference is
// ErrConfig naming both. Never write that record again: a second home is
// what this rule removed (issue 20).
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
// its membership is in its log.
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

// startRecorded starts the node. On a first open (created is the identity
// to record) it writes yggr.json first, so that the log the node creates
// never exists without it, and removes it again if the start failed
// before creating a log: a corrected retry is then a first open again. A
// log the failed start created keeps its record (whose it is must not be
// lost); so does a log of an earlier release, in its own identity record.
func startRecorded(dir string, cfg node.Config, created *identity) (*node.Node, error) {
	if created == nil {
		return startNode(cfg)
	}
	hadLog, err := raftlog.Exists(dir)
	if err != nil {
		return nil, err
	}
	if err := writeIdentity(dir, *created); err != nil {
		return nil, err
	}
	n, err := startNode(cfg)
	if err != nil {
		if hasLog, _ := raftlog.Exists(dir); hadLog || !hasLog {
			if rerr := os.Remove(identityPath(dir)); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}
	return n, err
}

// startNode starts the node and names the identity errors of its log in
// the root's terms.
func startNode(cfg node.Config) (*node.Node, error) {
	n, err := node.Start(cfg)
	switch {
	case errors.Is(err, raftlog.ErrIdentityMismatch):
		err = fmt.Errorf("%w: %v (the log's identity record, written by an earlier release, disagrees with %s or the options given)",
			ErrConfig, err, identityPath(cfg.Dir))
	case errors.Is(err, raftlog.ErrNoIdentity):
		err = fmt.Errorf("%w: %s is missing, and nothing else in %s says which node it is: put it back, or rebuild the node from the cluster (docs/disk-faults.md): %v",
			ErrCorrupt, identityPath(cfg.Dir), cfg.Dir, err)
	}
	return n, err
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
