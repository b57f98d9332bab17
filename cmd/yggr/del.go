package main

import "fmt"

// delCmd deletes a key.
type delCmd struct {
	clientFlags `embed:""`
	Key         string `arg:"" help:"The key."`
}

// Help is the detailed help with examples.
func (c *delCmd) Help() string {
	return `Prints the number of keys deleted (1 or 0); deleting a missing key is not
an error.

Examples:
  yggr del greeting
  yggr del -o json greeting`
}

// delOutput is del's JSON output.
type delOutput struct {
	Index   uint64 `json:"index"`
	Deleted bool   `json:"deleted"`
}

// Run deletes the key.
func (c *delCmd) Run(e *env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := c.context(e)
	defer cancel()
	index, deleted, err := cl.Delete(ctx, []byte(c.Key))
	if err != nil {
		return err
	}
	if c.json() {
		return writeJSON(e.stdout, delOutput{Index: index, Deleted: deleted})
	}
	n := 0
	if deleted {
		n = 1
	}
	_, err = fmt.Fprintln(e.stdout, n)
	return err
}
