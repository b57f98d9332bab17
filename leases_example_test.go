package yggr_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/yggrdb/yggr"
)

// A service registers itself under a key that lives as long as it keeps
// its lease alive.
func ExampleDB_Grant() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := yggr.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	id, err := db.Grant(ctx, 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Put(ctx, []byte("svc/api/n1"), []byte("10.0.0.1:8080"), yggr.WithLease(id)); err != nil {
		log.Fatal(err)
	}
	alive, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- db.KeepAliveLoop(alive, id, 10*time.Second) }()

	info, err := db.TimeToLive(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("ttl %v, keys %s\n", info.TTL, info.Keys)

	// Shutting down: stop the keepalives and revoke, which deletes the key.
	stop()
	<-done
	if err := db.Revoke(ctx, id); err != nil {
		log.Fatal(err)
	}
	_, err = db.Get(ctx, []byte("svc/api/n1"))
	fmt.Println(errors.Is(err, yggr.ErrNotFound))
	_, err = db.KeepAlive(ctx, id)
	fmt.Println(errors.Is(err, yggr.ErrLeaseNotFound))
	// Output:
	// ttl 10s, keys [svc/api/n1]
	// true
	// true
}
