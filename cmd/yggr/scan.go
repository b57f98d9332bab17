package main

import (
	"bufio"
	"bytes"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
)

// scanCmd lists keys in order.
type scanCmd struct {
	clientFlags `embed:""`
	Prefix      *string `help:"Only keys with this prefix." xor:"range"`
	Start       *string `help:"First key (inclusive)." xor:"range"`
	End         *string `help:"Stop before this key (exclusive); default: to the last key."`
	Limit       int     `help:"At most this many keys; 0 means all." default:"0"`
	KeysOnly    bool    `help:"Print only the keys."`
	Consistency string  `help:"Read consistency: linearizable, lease or stale." enum:"linearizable,lease,stale" default:"linearizable"`
}

// Help is the detailed help with examples.
func (c *scanCmd) Help() string {
	return `Prints each key on a line and its value on the next (--keys-only: keys only),
in key order. A key or value that is not printable text (a newline, a control
character, invalid UTF-8) or that starts with a double quote is printed as a
quoted Go string, "a\nb"; -o json gives the exact bytes. Without --prefix or --start, lists every key. Large results are
fetched in pages; each page is read at one point in time.

Examples:
  yggr scan --prefix user/
  yggr scan --start a --end m --limit 10
  yggr scan --keys-only
  yggr scan -o json --prefix user/`
}

// scanPage is how many items one request asks for.
const scanPage = 1000

// scanOutput is scan's JSON output.
type scanOutput struct {
	Items []httpapi.Item `json:"items"`
	More  bool           `json:"more"`
}

// Run lists the keys.
func (c *scanCmd) Run(e *env) error {
	if c.End != nil && c.Prefix != nil {
		return usagef("--end cannot be combined with --prefix")
	}
	if c.Limit < 0 {
		return usagef("--limit must be ≥ 0")
	}
	cons, err := parseConsistency(c.Consistency)
	if err != nil {
		return err
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
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := c.context(e)
	defer cancel()
	w := bufio.NewWriter(e.stdout)
	var all []httpapi.Item
	more := false
	// Bounded: each round advances start past at least one key, and stops
	// at the limit or when the server says nothing more remains.
	for {
		n := scanPage
		if c.Limit > 0 {
			n = min(n, c.Limit-len(all))
		}
		resp, err := cl.Scan(ctx, httpapi.ScanRequest{Start: start, End: end, Limit: n, Consistency: cons})
		if err != nil {
			return err
		}
		all = append(all, resp.Items...)
		more = resp.More
		if !resp.More || len(resp.Items) == 0 || (c.Limit > 0 && len(all) >= c.Limit) {
			break
		}
		start = append(slices.Clone(resp.Items[len(resp.Items)-1].Key), 0)
	}
	if c.json() {
		if all == nil {
			all = []httpapi.Item{}
		}
		return writeJSON(e.stdout, scanOutput{Items: all, More: more})
	}
	var line []byte
	for _, it := range all {
		line = appendLine(line[:0], it.Key)
		if !c.KeysOnly {
			line = appendLine(line, it.Value)
		}
		w.Write(line)
	}
	return w.Flush()
}

// appendLine appends s and a newline: as is when it is printable text
// (spaces allowed) that does not start with a double quote, else as a
// quoted Go string, so that a key or value with a newline or a
// non-printable byte stays on its line and reads back unambiguously.
func appendLine(b, s []byte) []byte {
	plain := utf8.Valid(s) && !bytes.HasPrefix(s, []byte{'"'})
	for _, r := range string(s) {
		if !plain {
			break
		}
		plain = unicode.IsPrint(r)
	}
	if plain {
		b = append(b, s...)
	} else {
		b = strconv.AppendQuote(b, string(s))
	}
	return append(b, '\n')
}
