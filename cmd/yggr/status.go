package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"text/tabwriter"

	"github.com/yggrdb/yggr"
)

// statusCmd shows the members and their replication state.
type statusCmd struct {
	clientFlags `embed:""`
}

// Help is the detailed help with examples.
func (c *statusCmd) Help() string {
	return `Asks every endpoint in --addr for its status and prints one row per member:
its role, term, commit and applied index (from the member itself when it is
among the endpoints), its match index (from the leader's view of its
followers), and its lag: how far its applied index, or else its match index,
trails the leader's commit. "-" means unknown. A member that did not answer
is shown as the leader sees it (follower, learner, or unreachable when the
leader has not heard from it lately), or as unknown when no leader answered;
the endpoints that did not answer are listed below the table.

Examples:
  yggr status
  yggr status --addr 127.0.0.1:7070,127.0.0.1:7080,127.0.0.1:7090
  yggr status -o json`
}

// memberRow is one row of the status table.
type memberRow struct {
	ID       string  `json:"id"`
	Addr     string  `json:"addr"`
	Role     string  `json:"role"`
	Voter    bool    `json:"voter"`
	Endpoint string  `json:"endpoint,omitempty"`
	Term     *uint64 `json:"term,omitempty"`
	Commit   *uint64 `json:"commit,omitempty"`
	Applied  *uint64 `json:"applied,omitempty"`
	Match    *uint64 `json:"match,omitempty"`
	Lag      *uint64 `json:"lag,omitempty"`
}

// statusOutput is status's JSON output.
type statusOutput struct {
	Leader      string            `json:"leader"`
	Members     []memberRow       `json:"members"`
	Nodes       []yggr.Status     `json:"nodes"`
	Unreachable []unreachableNode `json:"unreachable,omitempty"`
}

// unreachableNode is an endpoint of --addr that did not answer.
type unreachableNode struct {
	Endpoint string `json:"endpoint"`
	Error    string `json:"error"`
}

// Run collects and prints the status.
func (c *statusCmd) Run(e *env) error {
	eps, err := c.endpoints()
	if err != nil {
		return err
	}
	ctx, cancel := c.context(e)
	defer cancel()
	out, err := collectStatus(ctx, &c.clientFlags, eps)
	if err != nil {
		return err
	}
	if c.json() {
		return writeJSON(e.stdout, out)
	}
	if err := printStatusTable(e.stdout, out.Members); err != nil {
		return err
	}
	for _, u := range out.Unreachable {
		if _, err := fmt.Fprintf(e.stdout, "%s: unreachable: %s\n", u.Endpoint, u.Error); err != nil {
			return err
		}
	}
	return nil
}

// collectStatus asks each endpoint for its status (concurrently) and
// merges the answers into one row per member.
func collectStatus(ctx context.Context, f *clientFlags, eps []string) (statusOutput, error) {
	type answer struct {
		st  yggr.Status
		err error
	}
	answers := make([]answer, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		cl, err := f.clientFor([]string{ep})
		if err != nil {
			return statusOutput{}, err
		}
		wg.Add(1)
		// Owned by collectStatus, which waits; ends when Status returns
		// (bounded by ctx).
		go func() {
			defer wg.Done()
			defer cl.Close()
			answers[i].st, answers[i].err = cl.Status(ctx)
		}()
	}
	wg.Wait()
	var out statusOutput
	byID := map[string]int{}
	var errs []error
	for i, a := range answers {
		if a.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", eps[i], a.err))
			out.Unreachable = append(out.Unreachable, unreachableNode{Endpoint: eps[i], Error: a.err.Error()})
			continue
		}
		out.Nodes = append(out.Nodes, a.st)
		byID[a.st.ID] = i
	}
	if len(out.Nodes) == 0 {
		// The endpoints' own errors decide the exit code: a refused
		// connection is "unavailable", a 401 is not.
		return out, fmt.Errorf("status: no endpoint answered: %w", errors.Join(errs...))
	}
	// The leader's view, if we reached the leader; else the view with the
	// highest term.
	view := out.Nodes[0]
	for _, st := range out.Nodes {
		if st.Role == yggr.RoleLeader && (view.Role != yggr.RoleLeader || st.Term > view.Term) {
			view = st
		} else if view.Role != yggr.RoleLeader && st.Term > view.Term {
			view = st
		}
	}
	out.Leader = view.Leader
	var leader *yggr.Status
	if view.Role == yggr.RoleLeader {
		leader = &view
	}
	followers := map[string]yggr.FollowerStatus{}
	if leader != nil {
		for _, fs := range leader.Followers {
			followers[fs.ID] = fs
		}
	}
	for _, m := range view.Members {
		// A member that did not answer itself is what the leader says of
		// it: a follower or learner it hears from, or unreachable; with no
		// leader's view, unknown.
		row := memberRow{ID: m.ID, Addr: m.Addr, Voter: m.Voter, Role: "unknown"}
		if leader != nil {
			row.Role = yggr.RoleFollower.String()
			if !m.Voter {
				row.Role = "learner"
			}
		}
		if i, ok := byID[m.ID]; ok {
			st := answers[i].st
			row.Role, row.Endpoint = st.Role.String(), eps[i]
			row.Term, row.Commit, row.Applied = ptr(st.Term), ptr(st.Commit), ptr(st.Applied)
			if leader != nil {
				row.Lag = ptr(sub(leader.Commit, st.Applied))
			}
		}
		if fs, ok := followers[m.ID]; ok {
			row.Match = ptr(fs.Match)
			if !fs.Active && row.Endpoint == "" {
				row.Role = "unreachable"
			}
			if row.Lag == nil {
				row.Lag = ptr(sub(leader.Commit, fs.Match))
			}
		}
		if leader != nil && m.ID == leader.ID {
			row.Match = ptr(leader.LastIndex)
		}
		out.Members = append(out.Members, row)
	}
	return out, nil
}

func ptr(v uint64) *uint64 { return &v }

func sub(a, b uint64) uint64 {
	if b >= a {
		return 0
	}
	return a - b
}

// printStatusTable prints the rows as an aligned table.
func printStatusTable(w io.Writer, rows []memberRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDR\tROLE\tTERM\tCOMMIT\tAPPLIED\tMATCH\tLAG")
	for _, r := range rows {
		addr := r.Addr
		if addr == "" {
			addr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, addr, r.Role,
			opt(r.Term), opt(r.Commit), opt(r.Applied), opt(r.Match), opt(r.Lag))
	}
	return tw.Flush()
}

func opt(v *uint64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatUint(*v, 10)
}
