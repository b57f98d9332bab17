// Command configreload keeps a program's configuration in yggr and reloads
// it whenever it changes. It reads every key under a prefix with the
// revision of that read (ReadRevision), then watches the prefix from the
// next revision, so that no change is missed and none is applied twice.
// If it falls so far behind that the node no longer has the history it
// needs (a *yggr.CompactedError), it reads the prefix again and goes on
// from there.
//
//	go run ./examples/configreload [-dir DIR]
//
// The demo opens a single-node database, writes an initial configuration,
// then changes it three times from another goroutine, as an operator would
// with `yggr put`, and prints the configuration after every reload.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/yggrdb/yggr"
)

func main() {
	dir := flag.String("dir", "configreload-data", "data directory")
	flag.Parse()
	if err := run(*dir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// Config is a configuration: the keys under the prefix (without it) and
// their values.
type Config map[string]string

func (c Config) String() string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(c)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", k, c[k])
	}
	return b.String()
}

// Follower keeps a Config in step with the keys under Prefix.
type Follower struct {
	DB     *yggr.DB
	Prefix []byte
	// Reload receives the whole configuration and the revision it
	// reflects: once after each read of the prefix, then after every
	// revision that changed a key under it. cfg is the caller's to keep.
	Reload func(cfg Config, revision uint64)
	// Logger gets a warning when the follower reads the prefix again
	// (default slog.Default()).
	Logger *slog.Logger

	cfg Config // nil: read the prefix first
	rev uint64 // the revision cfg reflects
}

// Run follows the prefix until ctx ends or the database fails, and
// returns why it stopped.
func (f *Follower) Run(ctx context.Context) error {
	for {
		if f.cfg == nil {
			if err := f.read(ctx); err != nil {
				return err
			}
			f.Reload(maps.Clone(f.cfg), f.rev)
		}
		err := f.watch(ctx)
		var cerr *yggr.CompactedError
		if !errors.As(err, &cerr) {
			return err
		}
		// The node compacted the revisions we still needed: what changed
		// in between is lost, so read the whole prefix again.
		f.logger().Warn("configreload: history compacted, reading the configuration again",
			"needed", cerr.Requested, "oldest", cerr.Oldest)
		f.cfg = nil
	}
}

func (f *Follower) logger() *slog.Logger {
	if f.Logger == nil {
		return slog.Default()
	}
	return f.Logger
}

// read reads every key under the prefix at one revision.
func (f *Follower) read(ctx context.Context) error {
	cfg := Config{}
	var rev uint64
	for it, err := range f.DB.Scan(ctx, f.Prefix, yggr.PrefixEnd(f.Prefix), yggr.ReadRevision(&rev)) {
		if err != nil {
			return err
		}
		cfg[string(it.Key[len(f.Prefix):])] = string(it.Value)
	}
	f.cfg, f.rev = cfg, rev
	return nil
}

// watch applies the changes after f.rev to f.cfg, reloading after each
// revision, until the watch ends; it returns why.
func (f *Follower) watch(ctx context.Context) error {
	for c, err := range f.DB.Watch(ctx, f.Prefix, yggr.PrefixEnd(f.Prefix), yggr.FromRevision(f.rev+1)) {
		if err != nil {
			return err
		}
		for _, ev := range c.Events { // a transaction's changes arrive together
			name := string(ev.Item.Key[len(f.Prefix):])
			switch ev.Type {
			case yggr.EventPut:
				f.cfg[name] = string(ev.Item.Value)
			case yggr.EventDelete:
				delete(f.cfg, name)
			}
		}
		f.rev = c.Revision
		f.Reload(maps.Clone(f.cfg), f.rev)
	}
	return ctx.Err() // the loop only ends without an error when ctx ends
}

// run is the demo: it writes an initial configuration, follows it, changes
// it three times, and prints every configuration it reloads to out.
func run(dir string, out io.Writer) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := yggr.Open(dir, nil, yggr.WithLogger(logger))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	prefix := []byte("app/config/")
	key := func(name string) []byte { return append(slices.Clone(prefix), name...) }
	if _, err := db.Txn(ctx, yggr.Txn{Then: []yggr.Request{
		{Op: yggr.OpPut, Key: key("log-level"), Value: []byte("info")},
		{Op: yggr.OpPut, Key: key("port"), Value: []byte("8080")},
		{Op: yggr.OpDelete, Key: key("feature-x")}, // from an earlier run
	}}); err != nil {
		return err
	}

	followCtx, stop := context.WithCancel(ctx)
	reloads := make(chan uint64) // the revision of each reload
	f := &Follower{DB: db, Prefix: prefix, Logger: logger, Reload: func(cfg Config, rev uint64) {
		fmt.Fprintf(out, "reloaded: %v\n", cfg)
		select {
		case reloads <- rev:
		case <-followCtx.Done():
		}
	}}
	done := make(chan struct{})
	var runErr error
	// Owned by run, which stops it and waits for it below.
	go func() {
		defer close(done)
		runErr = f.Run(followCtx)
	}()
	defer func() { stop(); <-done }()
	waitReload := func(rev uint64) error {
		for {
			select {
			case r := <-reloads:
				if r >= rev {
					return nil
				}
			case <-done:
				return fmt.Errorf("the follower stopped: %w", runErr)
			}
		}
	}

	// The operator's changes, after the first reload so that each one is
	// a reload of its own.
	if err := waitReload(0); err != nil {
		return err
	}
	if err := db.Put(ctx, key("feature-x"), []byte("on")); err != nil {
		return err
	}
	if _, err := db.Txn(ctx, yggr.Txn{Then: []yggr.Request{
		{Op: yggr.OpPut, Key: key("log-level"), Value: []byte("debug")},
		{Op: yggr.OpPut, Key: key("port"), Value: []byte("9090")},
	}}); err != nil {
		return err
	}
	last, _, err := db.DeleteIndex(ctx, key("feature-x")) // the last change
	if err != nil {
		return err
	}
	return waitReload(last)
}
