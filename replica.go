package yggr

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/node"
)

// replica is a running runtime node with what Open sets up around it: the
// recorded identity, the data directory's lock and the peer network. The
// DB embeds one; package raft opens one for its caller's state machine
// (raft.go), so that both take the same options and keep the same rules.
type replica struct {
	id     engine.NodeID
	node   *node.Node
	net    node.Network // nil: a single node without a peer listener
	ownNet bool         // net was opened here, and close closes it
	lease  bool         // WithLeaseReads: Lease consistency is allowed
	// dirLock holds the data directory's lock (see lockDir) until close.
	dirLock atomic.Pointer[os.File]
}

// parseOptions applies opts over the defaults and validates the result.
func parseOptions(opts []Option) (options, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	o = o.withDefaults()
	return o, o.validate()
}

// open locks dir, checks the node's identity (recording it on a first
// open: identity.go), opens the peer network and starts the runtime node
// with the configuration configure completes (it sets the state machine;
// r.id and r.net are set by then). It returns the engine configuration the
// node runs with.
func (r *replica) open(dir string, peers []string, o options, configure func(*node.Config)) (engine.Config, error) {
	if dir == "" {
		return engine.Config{}, fmt.Errorf("%w: empty data directory", ErrConfig)
	}
	addrs, err := parsePeers(peers)
	if err != nil {
		return engine.Config{}, err
	}
	id, err := resolveID(o, addrs)
	if err != nil {
		return engine.Config{}, err
	}
	ecfg, err := o.engineConfig(id)
	if err != nil {
		return engine.Config{}, err
	}
	// The directory lock comes first: a directory in use fails here,
	// before the transport listens.
	lock, err := lockDir(dir)
	if err != nil {
		return engine.Config{}, err
	}
	opened := false
	defer func() {
		if !opened {
			unlockDir(lock)
		}
	}()
	have, err := checkIdentity(dir, id)
	if err != nil {
		return engine.Config{}, err
	}
	var created *identity // the identity a first open records
	if have == nil {
		c := newIdentity(id, addrs, o.join)
		created = &c
	}
	// The store's cluster is the one it was created for: a node with data
	// restarts from it whatever bootstrap flags it is given now.
	var cluster *string        // nil: computed from the peers, as at creation
	var voters []engine.NodeID // nil: the peers' IDs, as at creation
	if have != nil {
		if addrs, err = restartAddrs(o, id, addrs, *have); err != nil {
			return engine.Config{}, err
		}
		// Created with peers or to join: its cluster is the recorded one
		// (a node created alone keeps the computation it was created with).
		if have.Join || hasAddress(have.Peers) {
			c := clusterID(have.addrs(id), have.Join)
			cluster, o.join = &c, have.Join
		}
		// Until a config entry or a snapshot records the membership, the
		// cluster's voters are its bootstrap voters (internal/node
		// restore): those it was created with, not the peers given now,
		// which restartAddrs may have cut down to this node alone.
		if !have.Join && len(have.Peers) > 0 {
			for _, pid := range peerIDs(have.Peers) {
				voters = append(voters, engine.NodeID(pid))
			}
		}
	}
	r.id, r.lease = id, o.lease
	// A node listens for peers when it has some, joins a cluster, or names
	// its own address (a single node that can grow into a cluster).
	multi := len(addrs) > 1 || o.join || (len(addrs) == 1 && addrs[id] != "")
	if multi {
		if r.net, err = openNetwork(id, addrs, o); err != nil {
			return engine.Config{}, err
		}
		r.ownNet = o.network == nil
	}
	if len(addrs) == 0 {
		addrs = map[engine.NodeID]string{id: ""}
	}
	if cluster == nil {
		c := clusterID(addrs, o.join)
		cluster = &c
	}
	cfg := node.Config{
		ID:           id,
		Dir:          dir,
		ClusterID:    *cluster,
		Peers:        peersIfNew(addrs, o.join),
		Join:         o.join,
		Voters:       voters,
		FirstOpen:    have == nil,
		Network:      r.net,
		Engine:       ecfg,
		TickInterval: o.tick,
		NoSync:       o.noSync,
		DiskReserve:  o.diskReserve,
		History:      o.watchHistory,
		Logger:       o.logger,

		SnapshotWriteBytesPerSec: o.snapshotWriteRate,

		BeforeIteration: o.driverHook,
	}
	configure(&cfg)
	if r.node, err = startRecorded(dir, cfg, created); err != nil {
		if r.ownNet {
			r.net.Close()
		}
		return engine.Config{}, err
	}
	r.dirLock.Store(lock)
	opened = true
	return ecfg, nil
}

func peersIfNew(addrs map[engine.NodeID]string, join bool) map[engine.NodeID]string {
	if join {
		return nil
	}
	return addrs
}

// close stops the node, closes the network it opened and releases the
// directory lock.
func (r *replica) close() error {
	err := r.node.Close()
	if r.ownNet {
		err = errors.Join(err, r.net.Close())
	}
	return errors.Join(err, unlockDir(r.dirLock.Swap(nil)))
}
