package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
)

// membersCmd groups the membership subcommands.
type membersCmd struct {
	List    membersListCmd    `cmd:"" default:"withargs" help:"List the members."`
	Add     membersAddCmd     `cmd:"" help:"Add a member (a learner with --learner)."`
	Remove  membersRemoveCmd  `cmd:"" help:"Remove a member."`
	Promote membersPromoteCmd `cmd:"" help:"Make a learner a voter."`
}

// Help is the detailed help with examples.
func (c *membersCmd) Help() string {
	return `Membership changes go through Raft one at a time. To grow a cluster, start the
new node with 'yggr serve --join', which adds itself as a learner and promotes
itself once it has caught up; or do it by hand with add --learner, then
promote. The new node must already be running at its address: the cluster
first checks, by a handshake, that it holds the cluster's credentials.

Examples:
  yggr members list
  yggr members add n4 10.0.0.4:7071 --learner
  yggr members promote n4
  yggr members remove n3`
}

// membersListCmd lists the members.
type membersListCmd struct {
	clientFlags `embed:""`
}

// Help is the detailed help with examples.
func (c *membersListCmd) Help() string {
	return `Examples:
  yggr members list
  yggr members list -o json`
}

// Run lists the members.
func (c *membersListCmd) Run(e *env) error {
	return c.call(e, func(ctx context.Context, cl *httpapi.Client) error {
		ms, err := cl.Members(ctx)
		if err != nil {
			return err
		}
		if c.json() {
			if ms == nil {
				ms = []yggr.Member{}
			}
			return writeJSON(e.stdout, ms)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tADDR\tKIND")
		for _, m := range ms {
			kind := "voter"
			if !m.Voter {
				kind = "learner"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", m.ID, m.Addr, kind)
		}
		return tw.Flush()
	})
}

// membersAddCmd adds a member.
type membersAddCmd struct {
	clientFlags `embed:""`
	ID          string `arg:"" help:"The new member's node ID."`
	PeerAddr    string `arg:"" name:"raft-addr" help:"Its peer (Raft) address, host:port."`
	Learner     bool   `help:"Add it as a learner (no vote until promoted). Recommended."`
}

// Help is the detailed help with examples.
func (c *membersAddCmd) Help() string {
	return `The node must already listen at ADDR with the cluster's credentials (the
same --cluster-secret, or a certificate from the cluster CA): it is refused
otherwise.

Examples:
  yggr members add n4 10.0.0.4:7071 --learner
  yggr members add n4 10.0.0.4:7071`
}

// Run adds the member.
func (c *membersAddCmd) Run(e *env) error {
	return c.call(e, func(ctx context.Context, cl *httpapi.Client) error {
		add := cl.AddVoter
		if c.Learner {
			add = cl.AddLearner
		}
		if err := add(ctx, c.ID, c.PeerAddr); err != nil {
			return err
		}
		return c.printOK(e, yggr.Member{ID: c.ID, Addr: c.PeerAddr, Voter: !c.Learner})
	})
}

// membersRemoveCmd removes a member.
type membersRemoveCmd struct {
	clientFlags `embed:""`
	ID          string `arg:"" help:"The member's node ID."`
}

// Help is the detailed help with examples.
func (c *membersRemoveCmd) Help() string {
	return `A leader that removes itself steps down once the change commits.

Examples:
  yggr members remove n3`
}

// Run removes the member.
func (c *membersRemoveCmd) Run(e *env) error {
	return c.call(e, func(ctx context.Context, cl *httpapi.Client) error {
		if err := cl.RemoveMember(ctx, c.ID); err != nil {
			return err
		}
		return c.printOK(e, map[string]string{"removed": c.ID})
	})
}

// membersPromoteCmd promotes a learner.
type membersPromoteCmd struct {
	clientFlags `embed:""`
	ID          string `arg:"" help:"The learner's node ID."`
}

// Help is the detailed help with examples.
func (c *membersPromoteCmd) Help() string {
	return `Promote a learner once it has caught up (see yggr status: LAG near 0).

Examples:
  yggr members promote n4`
}

// Run promotes the learner.
func (c *membersPromoteCmd) Run(e *env) error {
	return c.call(e, func(ctx context.Context, cl *httpapi.Client) error {
		if err := cl.Promote(ctx, c.ID); err != nil {
			return err
		}
		return c.printOK(e, map[string]string{"promoted": c.ID})
	})
}
