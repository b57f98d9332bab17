package main

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/concurrency"
	"github.com/yggrdb/yggr/httpapi"
)

// fixes name, for errors a user can act on, what to change in the
// command line: the flags they type, never the Go options behind them.
var fixes = []struct {
	err error
	fix string
}{
	{httpapi.ErrUnauthorized, "pass the server's token with --token (or YGGR_TOKEN)"},
	{yggr.ErrLeaseDisabled, "start the node with --lease, or read with --consistency linearizable"},
	{httpapi.ErrUnavailable, "check --addr and that the node is running"},
}

// fixFor returns the fix for err, or "".
func fixFor(err error) string {
	for _, f := range fixes {
		if errors.Is(err, f.err) {
			return f.fix
		}
	}
	return ""
}

// errorMessage is the one line the CLI prints for err: its message and,
// when one is known, the fix.
func errorMessage(err error) string {
	msg := err.Error()
	if fix := fixFor(err); fix != "" {
		msg += "; " + fix
	}
	return msg
}

// errorCode is the machine-readable code of err for `-o json`: the HTTP
// API's code when the server answered, else one derived from the exit code.
func errorCode(err error) string {
	var api *httpapi.APIError
	switch {
	case errors.As(err, &api) && api.Code != "":
		return api.Code
	case errors.Is(err, concurrency.ErrLockLost):
		return "lock_lost"
	case errors.Is(err, httpapi.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, errCompareFailed):
		return "compare_failed"
	}
	switch exitCode(err) {
	case exitUsage:
		return httpapi.CodeInvalid
	case exitNotFound:
		return httpapi.CodeNotFound
	case exitUnavailable:
		return "unavailable"
	}
	return "error"
}

// jsonError is the shape of an error under `-o json`, the HTTP API's
// error body plus the fix and the exit code.
type jsonError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Fix     string `json:"fix,omitempty"`
		Exit    int    `json:"exit"`
	} `json:"error"`
}

// printError writes err to w as "Error: ..." or, under `-o json`, as a
// JSON object.
func printError(w io.Writer, err error, asJSON bool) {
	if !asJSON {
		io.WriteString(w, "Error: "+errorMessage(err)+"\n")
		return
	}
	var j jsonError
	j.Error.Code, j.Error.Message, j.Error.Fix, j.Error.Exit = errorCode(err), err.Error(), fixFor(err), exitCode(err)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(j)
}
