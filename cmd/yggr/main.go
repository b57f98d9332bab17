package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

// cli is the command tree. One file and one struct per command.
type cli struct {
	Serve              serveCmd              `cmd:"" help:"Run a yggr node with its HTTP API."`
	Get                getCmd                `cmd:"" help:"Print the value of a key."`
	Put                putCmd                `cmd:"" help:"Set a key to a value (argument or stdin)."`
	Del                delCmd                `cmd:"" help:"Delete a key."`
	Scan               scanCmd               `cmd:"" help:"List keys in order by prefix or range."`
	Watch              watchCmd              `cmd:"" help:"Print the changes to a prefix or range as they happen."`
	Lease              leaseCmd              `cmd:"" help:"Grant, keep alive, revoke and inspect leases (keys with a TTL)."`
	Lock               lockCmd               `cmd:"" help:"Run a command while holding a lock."`
	Elect              electCmd              `cmd:"" help:"Campaign in an election and lead until interrupted, or observe its leader (-l)."`
	Cas                casCmd                `cmd:"" help:"Compare-and-swap a key's value."`
	Txn                txnCmd                `cmd:"" help:"Run a transaction given as JSON."`
	Status             statusCmd             `cmd:"" help:"Show the cluster's members and their replication state."`
	Members            membersCmd            `cmd:"" help:"List and change the cluster's members."`
	TransferLeadership transferLeadershipCmd `cmd:"" name:"transfer-leadership" aliases:"transfer-leader" help:"Hand leadership to another voter."`
	Snapshot           snapshotCmd           `cmd:"" help:"Take a snapshot on the node now."`
	Backup             backupCmd             `cmd:"" help:"Write a consistent backup to a file."`
	Restore            restoreCmd            `cmd:"" help:"Create a new data directory from a backup (offline)."`
	Rebuild            rebuildCmd            `cmd:"" help:"Set a damaged node's data aside and remove it from the cluster, so it can rejoin empty."`
	Certs              certsCmd              `cmd:"" help:"Create a cluster CA and node certificates for peer mutual TLS."`
	Bench              benchCmd              `cmd:"" help:"Measure write/read throughput and latency of a running cluster."`
	Demo               demoCmd               `cmd:"" help:"Start a local three-node cluster, kill its leader, and show that nothing is lost."`
	Version            versionCmd            `cmd:"" help:"Print the version."`
}

// env is what every command's Run receives: the streams and a context
// that ends on SIGINT or SIGTERM.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(code)
}

// run parses args, runs the command and returns the process exit code.
func run(ctx context.Context, args []string, e *env) int {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("yggr"),
		kong.Description("yggr is a tiny replicated ordered key-value database: the SQLite of Raft."),
		kong.DefaultEnvars("YGGR"),
		kong.Writers(e.stdout, e.stderr),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	if err != nil {
		fmt.Fprintf(e.stderr, "Error: %v\n", err)
		return exitError
	}
	kctx, err := parser.Parse(moveLeadingClientFlags(args))
	if err != nil {
		if argsWantJSON(args) {
			printError(e.stderr, usageError{err.Error()}, true)
			return exitUsage
		}
		printError(e.stderr, err, false)
		var pe *kong.ParseError
		if errors.As(err, &pe) && pe.Context != nil && pe.Context.Selected() != nil {
			fmt.Fprintf(e.stderr, "Run '%s --help' for usage.\n", pe.Context.Selected().FullPath())
		} else {
			fmt.Fprintln(e.stderr, "Run 'yggr --help' for usage.")
		}
		return exitUsage
	}
	if err := kctx.Run(e); err != nil {
		var ce commandExit
		if errors.As(err, &ce) {
			return ce.code // the command said what it had to say
		}
		printError(e.stderr, err, flagsWantJSON(kctx))
		return exitCode(err)
	}
	return exitOK
}
