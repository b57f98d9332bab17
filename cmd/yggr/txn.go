package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/yggrdb/yggr/httpapi"
)

// txnCmd runs a transaction given as JSON.
type txnCmd struct {
	clientFlags `embed:""`
	File        string `short:"f" help:"Read the transaction from this file instead of stdin." type:"existingfile" placeholder:"FILE"`
}

// Help is the detailed help with examples.
func (c *txnCmd) Help() string {
	return `The transaction is the JSON body of POST /v1/txn (keys and values base64):
if every compare holds, the success requests run, otherwise the failure
requests, atomically at one log index. Prints the result as JSON (text output:
SUCCEEDED or FAILED, then the value of each get). A transaction whose compares
fail is not an error.

Examples:
  yggr txn < txn.json
  yggr txn --file txn.json
  echo '{"compare":[{"key":"aw==","target":"missing"}],
         "success":[{"op":"put","key":"aw==","value":"dg=="}]}' | yggr txn`
}

// maxTxnJSON bounds the transaction read from stdin or a file.
const maxTxnJSON = 64 << 20

// Run decodes and runs the transaction.
func (c *txnCmd) Run(e *env) error {
	in := e.stdin
	if c.File != "" {
		f, err := os.Open(c.File)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	data, err := io.ReadAll(io.LimitReader(in, maxTxnJSON+1))
	if err != nil {
		return err
	}
	if len(data) > maxTxnJSON {
		return usagef("txn: the JSON is larger than %d bytes", maxTxnJSON)
	}
	var req httpapi.TxnRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return usagef("txn: bad JSON: %v", err)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := c.context(e)
	defer cancel()
	resp, err := cl.Txn(ctx, req)
	if err != nil {
		return err
	}
	if c.json() {
		return writeJSON(e.stdout, resp)
	}
	outcome := "FAILED"
	if resp.Succeeded {
		outcome = "SUCCEEDED"
	}
	fmt.Fprintln(e.stdout, outcome)
	for _, r := range resp.Results {
		if r.Op == httpapi.OpGet && r.Item != nil {
			fmt.Fprintf(e.stdout, "%s\n", r.Item.Value)
		}
	}
	return nil
}
