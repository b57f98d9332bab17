package main

import (
	"io"

	"github.com/yggrdb/yggr"
)

// putCmd sets a key.
type putCmd struct {
	clientFlags `embed:""`
	Key         string  `arg:"" help:"The key."`
	Value       *string `arg:"" optional:"" help:"The value; read from stdin when omitted."`
}

// Help is the detailed help with examples.
func (c *putCmd) Help() string {
	return `Prints OK once the write is committed on a majority and applied.

Examples:
  yggr put greeting hello
  echo -n hello | yggr put greeting
  yggr put config < config.json`
}

// putOutput is put's JSON output.
type putOutput struct {
	Index uint64 `json:"index"`
}

// maxStdinValue bounds a value read from stdin (the server enforces its
// own, usually smaller, limit).
const maxStdinValue = 64 << 20

// Run writes the key.
func (c *putCmd) Run(e *env) error {
	var value []byte
	if c.Value != nil {
		value = []byte(*c.Value)
	} else {
		v, err := io.ReadAll(io.LimitReader(e.stdin, maxStdinValue+1))
		if err != nil {
			return err
		}
		if len(v) > maxStdinValue {
			return yggr.ErrTooLarge
		}
		value = v
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := c.context(e)
	defer cancel()
	index, err := cl.Put(ctx, []byte(c.Key), value)
	if err != nil {
		return err
	}
	return c.printOK(e, putOutput{Index: index})
}
