package main

import (
	"errors"
	"fmt"

	"github.com/yggrdb/yggr"
)

// getCmd prints a key's value.
type getCmd struct {
	clientFlags `embed:""`
	Key         string `arg:"" help:"The key."`
	Consistency string `help:"Read consistency: linearizable, lease or stale." enum:"linearizable,lease,stale" default:"linearizable"`
}

// Help is the detailed help with examples.
func (c *getCmd) Help() string {
	return `Prints the raw value and nothing else (no newline is added). A missing key
exits with code 3.

Examples:
  yggr get greeting
  yggr get --consistency stale greeting
  yggr get -o json greeting`
}

// getOutput is get's JSON output.
type getOutput struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
	Index uint64 `json:"index"`
}

// Run reads the key.
func (c *getCmd) Run(e *env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := c.context(e)
	defer cancel()
	cons, err := parseConsistency(c.Consistency)
	if err != nil {
		return err
	}
	v, index, err := cl.Get(ctx, []byte(c.Key), yggr.WithConsistency(cons))
	if errors.Is(err, yggr.ErrNotFound) {
		return notFoundError(fmt.Sprintf("key %q not found", c.Key))
	}
	if err != nil {
		return err
	}
	if c.json() {
		return writeJSON(e.stdout, getOutput{Key: c.Key, Value: v, Index: index})
	}
	_, err = e.stdout.Write(v)
	return err
}
