// Command embedded is a single-node application that keeps its state in
// yggr: a visit counter that survives restarts.
//
//	go run ./examples/embedded [-dir DIR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/yggrdb/yggr"
)

func main() {
	dir := flag.String("dir", "embedded-data", "data directory")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	ctx := context.Background()
	db, err := yggr.Open(dir, nil, yggr.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		return err
	}
	defer db.Close()

	// Increment a counter with compare-and-swap, retrying on conflict.
	key := []byte("visits")
	for attempt := 0; attempt < 10; attempt++ {
		old, err := db.Get(ctx, key)
		n := 0
		switch {
		case err == nil:
			if n, err = strconv.Atoi(string(old)); err != nil {
				return fmt.Errorf("corrupt counter %q", old)
			}
		case errors.Is(err, yggr.ErrNotFound):
			old = nil
		default:
			return err
		}
		ok, err := db.CompareAndSwap(ctx, key, old, []byte(strconv.Itoa(n+1)))
		if err != nil {
			return err
		}
		if ok {
			fmt.Printf("visit number %d (data in %s)\n", n+1, dir)
			return nil
		}
	}
	return fmt.Errorf("too much contention")
}
