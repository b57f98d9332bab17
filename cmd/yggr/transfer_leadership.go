package main

// transferLeadershipCmd hands leadership to another voter.
type transferLeadershipCmd struct {
	clientFlags `embed:""`
	ID          string `arg:"" optional:"" help:"The voter to lead; default: any up-to-date voter."`
}

// Help is the detailed help with examples.
func (c *transferLeadershipCmd) Help() string {
	return `Prints OK once the new leader leads.

"transfer-leader" is an alias, kept for scripts written before the
command took the library's name (TransferLeadership).

Examples:
  yggr transfer-leadership n2
  yggr transfer-leadership`
}

// Run transfers leadership.
func (c *transferLeadershipCmd) Run(e *env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := c.context(e)
	defer cancel()
	if err := cl.TransferLeadership(ctx, c.ID); err != nil {
		return err
	}
	return c.printOK(e, map[string]string{"to": c.ID})
}
