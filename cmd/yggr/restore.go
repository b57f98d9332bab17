package main

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/yggrdb/yggr"
)

// restoreCmd creates a data directory from a backup, offline.
type restoreCmd struct {
	Dir    string `required:"" help:"The new data directory (must be empty or missing)." type:"path"`
	ID     string `required:"" help:"The node ID of the restored single-node database."`
	File   string `arg:"" help:"The backup file ('-': stdin)." type:"path"`
	Output string `short:"o" help:"Output format: text or json." enum:"text,json" default:"text"`
}

// Help is the detailed help with examples.
func (c *restoreCmd) Help() string {
	return `Works offline, without a running node. The result is a single-node database:
serve it with 'yggr serve --dir DIR --id ID'. Served like that it has no peer
listener and refuses to add members; to grow it into a cluster, serve it with
only itself in --peers (--peers ID=HOST:PORT and --cluster-secret or TLS files),
then start the new nodes with --join.

Examples:
  yggr restore --dir ./yggr-data --id n1 yggr.backup
  gunzip -c yggr.backup.gz | yggr restore --dir ./yggr-data --id n1 -`
}

// restoreOutput is restore's JSON output.
type restoreOutput struct {
	Dir   string `json:"dir"`
	ID    string `json:"id"`
	Index uint64 `json:"index"`
}

// Run restores the backup.
func (c *restoreCmd) Run(e *env) error {
	var r io.Reader = e.stdin
	size := int64(-1)
	if c.File != "-" {
		f, err := os.Open(c.File)
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		r = f
	}
	if isTerminal(e.stderr) {
		bar := progressbar.NewOptions64(size, progressbar.OptionSetWriter(e.stderr),
			progressbar.OptionSetDescription("restore"), progressbar.OptionShowBytes(true),
			progressbar.OptionClearOnFinish())
		defer bar.Finish()
		pr := progressbar.NewReader(r, bar)
		r = &pr
	}
	index, err := yggr.RestoreBackup(c.Dir, c.ID, r)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return writeJSON(e.stdout, restoreOutput{Dir: c.Dir, ID: c.ID, Index: index})
	}
	_, err = fmt.Fprintf(e.stdout, "OK restored index %d into %s (node %s)\n", index, c.Dir, c.ID)
	return err
}
