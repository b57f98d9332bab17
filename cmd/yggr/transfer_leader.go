package main

// transferLeaderCmd hands leadership to another voter.
type transferLeaderCmd struct {
	clientFlags `embed:""`
	ID          string `arg:"" optional:"" help:"The voter to lead; default: any up-to-date voter."`
}

// Help is the detailed help with examples.
func (c *transferLeaderCmd) Help() string {
	return `Prints OK once the new leader leads.

Examples:
  yggr transfer-leader n2
  yggr transfer-leader`
}

// Run transfers leadership.
func (c *transferLeaderCmd) Run(e *env) error {
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
