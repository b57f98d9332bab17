package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/yggrdb/yggr"
)

// rebuildCmd rebuilds a node from the cluster: the node's damaged data
// directory is set aside and the node leaves the membership, so that it can
// join again, empty, as a learner.
type rebuildCmd struct {
	clientFlags `embed:""`
	Dir         string `required:"" help:"The stopped node's data directory (moved to DIR.damaged-<time>)." type:"path"`
	ID          string `required:"" help:"The node's ID."`
}

// Help is the detailed help with examples.
func (c *rebuildCmd) Help() string {
	return `For a node whose files are damaged (it refuses to start with "corrupt data")
or whose disk was replaced. Stop the node first. rebuild then
  1. moves DIR aside to DIR.damaged-<time> (kept for inspection; delete it later),
  2. removes the node from the cluster through --addr (a healthy member),
and prints the 'yggr serve --join' line that starts it again, empty: it joins
as a learner, receives a snapshot from the leader, and becomes a voter once
caught up. Wiping DIR and restarting the node as the same voter would not be
safe: it would vote and count toward commits having forgotten entries it
acknowledged. Running rebuild again after a failure finishes what is left.

Examples:
  yggr rebuild --dir data/n2 --id n2 --addr 127.0.0.1:7070`
}

// rebuildOutput is rebuild's JSON output.
type rebuildOutput struct {
	ID      string `json:"id"`
	Dir     string `json:"dir"`
	MovedTo string `json:"moved_to,omitempty"`
	Removed bool   `json:"removed"`
	Join    string `json:"join"`
}

// Run sets the directory aside and removes the member.
func (c *rebuildCmd) Run(e *env) error {
	out := rebuildOutput{ID: c.ID, Dir: c.Dir}
	to, err := yggr.SetAside(c.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Moved by an earlier run, or the disk was replaced.
	case err != nil:
		return fmt.Errorf("rebuild: %w", err)
	default:
		out.MovedTo = to
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := c.context(e)
	defer cancel()
	// Each attempt reads the members first, so that a removal applied by
	// an attempt whose answer was lost (the leader changed: the stopped
	// node may have been it) is not tried again.
	err = retry(ctx, func() error {
		ms, err := cl.Members(ctx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.ID == c.ID {
				out.Removed = true // by this attempt or, if it fails, a later one
				return cl.RemoveMember(ctx, c.ID)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild: %s: remove %s: %w", movedNote(out.MovedTo), c.ID, err)
	}
	eps, _ := c.endpoints()
	out.Join = fmt.Sprintf("yggr serve --id %s --dir %s --join %s", c.ID, c.Dir, strings.TrimPrefix(eps[0], "http://"))
	if c.json() {
		return writeJSON(e.stdout, out)
	}
	if out.MovedTo != "" {
		fmt.Fprintf(e.stdout, "Moved %s to %s.\n", c.Dir, out.MovedTo)
	}
	if out.Removed {
		fmt.Fprintf(e.stdout, "Removed %s from the cluster.\n", c.ID)
	} else {
		fmt.Fprintf(e.stdout, "%s is not a member.\n", c.ID)
	}
	fmt.Fprintf(e.stdout, "Now start it empty, joining the cluster (with its usual flags but --peers):\n  %s\n", out.Join)
	return nil
}

// movedNote says where the directory is, for an error after the move.
func movedNote(to string) string {
	if to == "" {
		return "the directory was already moved"
	}
	return "the directory was moved to " + to + " (run rebuild again to finish)"
}
