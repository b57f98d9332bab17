package main

import "fmt"

// snapshotCmd takes a snapshot on the node now.
type snapshotCmd struct {
	clientFlags `embed:""`
}

// Help is the detailed help with examples.
func (c *snapshotCmd) Help() string {
	return `Snapshots are also taken automatically as the log grows; this forces one on
the node that receives the request (the first endpoint that answers) and
prints the log index it covers.

Examples:
  yggr snapshot
  yggr snapshot --addr 127.0.0.1:7080`
}

// Run takes the snapshot.
func (c *snapshotCmd) Run(e *env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := c.context(e)
	defer cancel()
	index, err := cl.Snapshot(ctx)
	if err != nil {
		return err
	}
	if c.json() {
		return writeJSON(e.stdout, putOutput{Index: index})
	}
	_, err = fmt.Fprintln(e.stdout, index)
	return err
}
