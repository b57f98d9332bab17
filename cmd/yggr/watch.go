package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
)

// watchCmd prints the changes to a prefix or range as they happen.
type watchCmd struct {
	clientFlags `embed:""`
	Prefix      *string       `arg:"" optional:"" help:"Watch the keys with this prefix (default: every key)."`
	Start       *string       `help:"Watch a range from this key (inclusive) instead of a prefix."`
	End         *string       `help:"Stop the range before this key (exclusive); default: to the last key."`
	From        uint64        `help:"First revision to print, for example the last one printed + 1 (0: from now)." default:"0"`
	Prev        bool          `help:"Also print each key's value before the change."`
	Progress    time.Duration `help:"Print a progress line whenever this long passes without a change (0: none; at least 100ms)." default:"0"`
}

// Help is the detailed help with examples.
func (c *watchCmd) Help() string {
	return `Prints one line per change, as the node applies it, until Ctrl-C (exit 0):

  REVISION PUT KEY VALUE
  REVISION DELETE KEY

with "(prev VALUE)" after it under --prev, and "REVISION PROGRESS" lines under
--progress. A transaction's changes share one revision. Keys and values are
printed as they are unless they hold spaces, quotes or unprintable bytes: then
they are quoted Go strings. -o json prints each change as the JSON line of
GET /v1/watch. A dropped connection is resumed from the next revision on any
--addr endpoint, with no change missed or repeated; --timeout bounds each
connection attempt and how long to keep trying. A revision older than the
node's history exits with code 1, naming the oldest revision left: scan again
and watch --from there.

Examples:
  yggr watch config/
  yggr watch --prev --from 120 config/
  yggr watch --start a --end m -o json
  yggr watch --progress 10s`
}

// Run watches until the context ends.
func (c *watchCmd) Run(e *env) error {
	if c.Prefix != nil && (c.Start != nil || c.End != nil) {
		return usagef("a PREFIX cannot be combined with --start or --end")
	}
	if c.Progress != 0 && (c.Progress < httpapi.MinWatchProgress || c.Progress > httpapi.MaxWatchProgress) {
		return usagef("--progress must be 0 or from %v to %v", httpapi.MinWatchProgress, httpapi.MaxWatchProgress)
	}
	var start, end []byte
	switch {
	case c.Prefix != nil:
		start, end = []byte(*c.Prefix), yggr.PrefixEnd([]byte(*c.Prefix))
	case c.Start != nil:
		start = []byte(*c.Start)
	}
	if c.End != nil {
		end = []byte(*c.End)
	}
	if end != nil && bytes.Compare(start, end) >= 0 {
		return usagef("the range [%q, %q) is empty", start, end)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	opts := []yggr.WatchOption{yggr.FromRevision(c.From), yggr.WithProgressNotify(c.Progress)}
	if c.Prev {
		opts = append(opts, yggr.WithPrevItem())
	}
	for ch, err := range cl.Watch(e.ctx, start, end, opts...) {
		if err != nil {
			if e.ctx.Err() != nil {
				return nil // Ctrl-C: the normal end
			}
			var cerr *yggr.CompactedError
			if errors.As(err, &cerr) {
				return fmt.Errorf("%w: scan again and watch --from %d", err, cerr.Oldest)
			}
			return err
		}
		if err := c.print(e, ch); err != nil {
			return err
		}
	}
	return nil
}

// print writes one change (or progress notification) to stdout.
func (c *watchCmd) print(e *env, ch yggr.Change) error {
	var b []byte
	if c.json() {
		var err error
		if b, err = json.Marshal(httpapi.NewWatchLine(ch)); err != nil {
			return err
		}
		b = append(b, '\n')
	} else if ch.IsProgress() {
		b = fmt.Appendf(b, "%d PROGRESS\n", ch.Revision)
	} else {
		for _, ev := range ch.Events {
			b = strconv.AppendUint(b, ch.Revision, 10)
			if ev.Type == yggr.EventDelete {
				b = append(b, " DELETE "...)
				b = appendShown(b, ev.Item.Key)
			} else {
				b = append(b, " PUT "...)
				b = appendShown(b, ev.Item.Key)
				b = append(b, ' ')
				b = appendShown(b, ev.Item.Value)
			}
			if c.Prev && ev.Prev != nil {
				b = append(b, " (prev "...)
				b = appendShown(b, ev.Prev.Value)
				b = append(b, ')')
			}
			b = append(b, '\n')
		}
	}
	_, err := e.stdout.Write(b)
	return err
}

// appendShown appends s as is when it is printable text without spaces or
// quotes (and not empty), else as a quoted Go string, so that every line
// splits back into its fields.
func appendShown(b, s []byte) []byte {
	plain := len(s) > 0 && utf8.Valid(s)
	for _, r := range string(s) {
		if !plain {
			break
		}
		plain = unicode.IsPrint(r) && !unicode.IsSpace(r) && r != '"' && r != '(' && r != ')'
	}
	if plain {
		return append(b, s...)
	}
	return strconv.AppendQuote(b, string(s))
}
