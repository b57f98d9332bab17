package main

import (
	"fmt"

	"github.com/yggrdb/yggr/httpapi"
)

// casCmd is compare-and-swap on one key.
type casCmd struct {
	clientFlags `embed:""`
	Missing     bool     `help:"Create the key only if it does not exist: cas --missing KEY NEW."`
	Key         string   `arg:"" help:"The key."`
	Values      []string `arg:"" name:"old-new" help:"OLD NEW (or NEW with --missing)."`
}

// Help is the detailed help with examples.
func (c *casCmd) Help() string {
	return `Sets KEY to NEW only if its current value is OLD (or, with --missing, only if
KEY does not exist), atomically. Prints OK when it swapped; when the compare
fails it prints nothing and exits with code 1.

Examples:
  yggr cas counter 41 42
  yggr cas --missing lock/leader n1`
}

// casOutput is cas's JSON output.
type casOutput struct {
	Succeeded bool   `json:"succeeded"`
	Index     uint64 `json:"index"`
}

// Run swaps.
func (c *casCmd) Run(e *env) error {
	var cmp httpapi.TxnCompare
	var value string
	switch {
	case c.Missing && len(c.Values) == 1:
		cmp = httpapi.TxnCompare{Key: []byte(c.Key), Target: httpapi.TargetMissing}
		value = c.Values[0]
	case !c.Missing && len(c.Values) == 2:
		cmp = httpapi.TxnCompare{Key: []byte(c.Key), Target: httpapi.TargetValue, Value: []byte(c.Values[0])}
		value = c.Values[1]
	case c.Missing:
		return usagef("cas --missing takes KEY NEW, got %d values", len(c.Values))
	default:
		return usagef("cas takes KEY OLD NEW (or --missing KEY NEW), got %d values", len(c.Values))
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := c.context(e)
	defer cancel()
	resp, err := cl.Txn(ctx, httpapi.TxnRequest{
		Compare: []httpapi.TxnCompare{cmp},
		Success: []httpapi.TxnOp{{Op: httpapi.OpPut, Key: []byte(c.Key), Value: []byte(value)}},
	})
	if err != nil {
		return err
	}
	if c.json() {
		if err := writeJSON(e.stdout, casOutput{Succeeded: resp.Succeeded, Index: resp.Index}); err != nil {
			return err
		}
	}
	if !resp.Succeeded {
		if c.Missing {
			return fmt.Errorf("cas: %w: key %q exists", errCompareFailed, c.Key)
		}
		return fmt.Errorf("cas: %w: the value of %q is not %q", errCompareFailed, c.Key, c.Values[0])
	}
	if !c.json() {
		_, err = fmt.Fprintln(e.stdout, "OK")
	}
	return err
}
