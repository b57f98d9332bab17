package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/schollz/progressbar/v3"
)

// backupCmd writes a consistent backup to a file.
type backupCmd struct {
	clientFlags `embed:""`
	File        string `arg:"" help:"Where to write the backup ('-': stdout)." type:"path"`
}

// Help is the detailed help with examples.
func (c *backupCmd) Help() string {
	return `The backup is taken by the node that answers (a consistent copy of its state)
and written to a temporary file that is renamed to FILE once complete. Restore
it with 'yggr restore'. Use a --timeout long enough for the data set.

Examples:
  yggr backup yggr.backup
  yggr backup --timeout 10m yggr.backup
  yggr backup - | gzip > yggr.backup.gz`
}

// backupOutput is backup's JSON output.
type backupOutput struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
}

// Run writes the backup.
func (c *backupCmd) Run(e *env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := c.context(e)
	defer cancel()
	if c.File == "-" {
		_, err := cl.Backup(ctx, e.stdout)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.File), filepath.Base(c.File)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	var w io.Writer = tmp
	var bar *progressbar.ProgressBar
	if isTerminal(e.stderr) {
		bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(e.stderr),
			progressbar.OptionSetDescription("backup"), progressbar.OptionShowBytes(true),
			progressbar.OptionClearOnFinish())
		w = io.MultiWriter(tmp, bar)
	}
	n, err := cl.Backup(ctx, w)
	if bar != nil {
		bar.Finish()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), c.File); err != nil {
		return err
	}
	if c.json() {
		return writeJSON(e.stdout, backupOutput{File: c.File, Bytes: n})
	}
	_, err = fmt.Fprintf(e.stdout, "OK %d bytes written to %s\n", n, c.File)
	return err
}
