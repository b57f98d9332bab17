package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/yggrdb/yggr/engine"
	raftlog "github.com/yggrdb/yggr/log"
	"github.com/yggrdb/yggr/snapshot"
)

// Snapshot takes a snapshot of the state machine now and returns its
// metadata.
func (n *Node) Snapshot(ctx context.Context) (engine.SnapshotMeta, error) {
	// A node that has applied nothing yet (it just started, and no leader
	// has committed an entry since) has nothing to snapshot: wait for its
	// first entry, within ctx, rather than fail.
	if err := n.WaitApplied(ctx, 1); err != nil {
		if errors.Is(err, ErrClosed) {
			return engine.SnapshotMeta{}, err
		}
		return engine.SnapshotMeta{}, fmt.Errorf("%w: nothing applied yet to snapshot: %w", ErrTimeout, err)
	}
	ch := make(chan snapDone, 1)
	select {
	case n.snapReq <- ch:
	case <-ctx.Done():
		return engine.SnapshotMeta{}, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	case <-n.stop:
		return engine.SnapshotMeta{}, ErrClosed
	}
	select {
	case sd := <-ch:
		return sd.meta, sd.err
	case <-ctx.Done():
		return engine.SnapshotMeta{}, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	case <-n.stop:
		return engine.SnapshotMeta{}, ErrClosed
	}
}

// backupMagic starts a backup stream; then come the snapshot's index and
// term (big-endian uint64) and the runtime's snapshot stream.
const backupMagic = "YGGRBAK1"

// Backup takes a fresh snapshot and writes it to w as a backup stream that
// RestoreBackup turns into a new single-node database.
func (n *Node) Backup(ctx context.Context, w io.Writer) (engine.SnapshotMeta, error) {
	meta, err := n.Snapshot(ctx)
	if err != nil {
		return meta, err
	}
	r, err := n.snaps.Open(meta.Index, meta.Term)
	if err != nil {
		return meta, err
	}
	defer r.Close()
	hdr := append([]byte(backupMagic), make([]byte, 16)...)
	binary.BigEndian.PutUint64(hdr[8:], meta.Index)
	binary.BigEndian.PutUint64(hdr[16:], meta.Term)
	if _, err := w.Write(hdr); err != nil {
		return meta, err
	}
	if _, err := io.Copy(w, r); err != nil {
		return meta, err
	}
	return meta, nil
}

// RestoreBackup creates the data directory of a new single-node cluster
// whose only voter is id, from a backup stream. The directory must not
// hold a database already.
// The stream is verified by restoring it into sm (a scratch state machine)
// before the directory is initialised; a truncated or damaged backup is an
// error wrapping ErrCorrupt and leaves nothing behind. The log records no
// identity: the caller records the node's (Config.ClusterID).
func RestoreBackup(dir string, id engine.NodeID, r io.Reader, sm StateMachine) (meta engine.SnapshotMeta, err error) {
	if !engine.ValidNodeID(id) {
		return meta, fmt.Errorf("yggr: invalid node id %q", id)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return meta, fmt.Errorf("yggr: %s is not empty; restore into a new directory", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return meta, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	br := bufio.NewReader(r)
	hdr := make([]byte, 24)
	if _, err := io.ReadFull(br, hdr); err != nil || string(hdr[:8]) != backupMagic {
		return meta, fmt.Errorf("%w: not a yggr backup", ErrCorrupt)
	}
	meta.Index = binary.BigEndian.Uint64(hdr[8:])
	meta.Term = binary.BigEndian.Uint64(hdr[16:])
	if meta.Index == 0 || meta.Term == 0 {
		return meta, fmt.Errorf("%w: backup header names snapshot %s", ErrCorrupt, meta)
	}
	meta.Membership = engine.NewMembership([]engine.NodeID{id}, nil)
	snaps, err := snapshot.Open(dir, snapshot.Options{})
	if err != nil {
		return meta, err
	}
	w, err := snaps.Create(meta)
	if err != nil {
		return meta, err
	}
	// Validate the stream (address book header) while copying it.
	if _, err := io.Copy(w, br); err != nil {
		w.Abort()
		return meta, err
	}
	if meta, err = w.Commit(); err != nil {
		return meta, err
	}
	sr, err := snaps.Open(meta.Index, meta.Term)
	if err != nil {
		return meta, err
	}
	_, err = readSnapshotStream(sr, sm)
	sr.Close()
	if err != nil {
		return meta, fmt.Errorf("%w: backup does not restore: %v", ErrCorrupt, err)
	}
	logs, err := raftlog.Open(dir, raftlog.Options{NodeID: string(id)})
	if err != nil {
		return meta, err
	}
	hs := engine.HardState{Term: meta.Term, Commit: meta.Index}
	err = errors.Join(logs.ResetTo(meta, false), logs.Write(raftlog.Batch{HardState: &hs}), logs.Close())
	return meta, err
}
