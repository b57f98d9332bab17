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

// openExample opens a single-node database in a throwaway directory; the
// returned function closes and removes it.
func openExample() (*yggr.DB, func()) {
	dir := tempDir()
	db, err := yggr.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

func ExampleDB_KeepAlive() {
	db, done := openExample()
	defer done()
	ctx := context.Background()

	id, err := db.Grant(ctx, 5*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	// Each keepalive restarts the lease's TTL and returns it.
	ttl, err := db.KeepAlive(ctx, id)
	fmt.Println(ttl, err)
	// Output: 5s <nil>
}

func ExampleDB_KeepAliveLoop() {
	db, done := openExample()
	defer done()
	ctx := context.Background()

	id, err := db.Grant(ctx, time.Second)
	if err != nil {
		log.Fatal(err)
	}
	// The loop keeps the lease alive until its context ends (or the
	// lease is lost: revoked or expired).
	alive, stop := context.WithCancel(ctx)
	loop := make(chan error, 1)
	go func() { loop <- db.KeepAliveLoop(alive, id, time.Second) }()
	stop()
	fmt.Println(errors.Is(<-loop, context.Canceled))
	// Output: true
}

func ExampleDB_Revoke() {
	db, done := openExample()
	defer done()
	ctx := context.Background()

	id, _ := db.Grant(ctx, time.Minute)
	db.Put(ctx, []byte("session/42"), []byte("alice"), yggr.WithLease(id))
	// Revoking deletes the lease's keys in the same step.
	fmt.Println(db.Revoke(ctx, id))
	_, err := db.Get(ctx, []byte("session/42"))
	fmt.Println(errors.Is(err, yggr.ErrNotFound))
	// Output:
	// <nil>
	// true
}

func ExampleDB_TimeToLive() {
	db, done := openExample()
	defer done()
	ctx := context.Background()

	id, _ := db.Grant(ctx, time.Minute)
	db.Put(ctx, []byte("a"), []byte("1"), yggr.WithLease(id))
	db.Put(ctx, []byte("b"), []byte("2"), yggr.WithLease(id))
	info, err := db.TimeToLive(ctx, id)
	fmt.Printf("%v %s %v %v\n", info.TTL, info.Keys, info.Remaining <= info.TTL, err)
	// Output: 1m0s [a b] true <nil>
}

func ExampleDB_Leases() {
	db, done := openExample()
	defer done()
	ctx := context.Background()

	db.Grant(ctx, time.Minute)
	db.Grant(ctx, time.Hour)
	leases, err := db.Leases(ctx)
	for _, l := range leases {
		fmt.Println(l.TTL)
	}
	fmt.Println(err)
	// Output:
	// 1m0s
	// 1h0m0s
	// <nil>
}
