package concurrency_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/concurrency"
)

// openDB opens a single-node database in a temporary directory.
func openDB() (*yggr.DB, func()) {
	dir, err := os.MkdirTemp("", "yggr-concurrency-example-")
	if err != nil {
		log.Fatal(err)
	}
	db, err := yggr.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

// A session keeps a lease alive until it is closed; keys attached to it
// live as long as the session.
func ExampleNewSession() {
	db, cleanup := openDB()
	defer cleanup()
	ctx := context.Background()

	s, err := concurrency.NewSession(ctx, db, concurrency.WithTTL(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	// Service registration: the key goes when the session ends, also if
	// this process dies (within the TTL).
	if err := db.Put(ctx, []byte("svc/api/n1"), []byte("10.0.0.1:8080"), yggr.WithLease(s.Lease())); err != nil {
		log.Fatal(err)
	}
	fmt.Println("alive:", s.Err() == nil)

	s.Close() // revokes the lease
	<-s.Done()
	fmt.Println("closed:", errors.Is(s.Err(), concurrency.ErrSessionClosed))
	_, err = db.Get(ctx, []byte("svc/api/n1"))
	fmt.Println("key gone:", errors.Is(err, yggr.ErrNotFound))
	// Output:
	// alive: true
	// closed: true
	// key gone: true
}

// A lock with a fencing token: the resource (here a key written with
// Mutex.Txn, which applies only while the lock is held) accepts the
// holder's writes, and every new holder's token is larger.
func ExampleMutex() {
	db, cleanup := openDB()
	defer cleanup()
	ctx := context.Background()

	s1, err := concurrency.NewSession(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	defer s1.Close()
	s2, err := concurrency.NewSession(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	defer s2.Close()

	m1 := concurrency.NewMutex(s1, "locks/report")
	m2 := concurrency.NewMutex(s2, "locks/report")
	if err := m1.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("m2 try:", m2.TryLock(ctx))

	// Write under the lock: applied only if m1 still holds it.
	if _, err := m1.Txn(ctx, yggr.Request{Op: yggr.OpPut, Key: []byte("report"), Value: []byte("by m1")}); err != nil {
		log.Fatal(err)
	}
	t1 := m1.Token()
	if err := m1.Unlock(ctx); err != nil {
		log.Fatal(err)
	}

	if err := m2.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("m2's token is larger:", m2.Token() > t1)
	// m1 no longer holds the lock: its guarded writes are refused.
	_, err = m1.Txn(ctx, yggr.Request{Op: yggr.OpPut, Key: []byte("report"), Value: []byte("late")})
	fmt.Println("m1 write:", err)
	if err := m2.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// m2 try: concurrency: locked by another holder
	// m2's token is larger: true
	// m1 write: concurrency: this Mutex does not hold the lock
}

// A resource outside the database protects itself from a paused holder
// with the fencing token: it refuses any token smaller than the largest
// it has seen.
func ExampleMutex_Token() {
	db, cleanup := openDB()
	defer cleanup()
	ctx := context.Background()

	// The resource: it remembers the largest token it accepted.
	var highest uint64
	write := func(token uint64, what string) {
		if token < highest {
			fmt.Printf("refused %q (token older than the current holder's)\n", what)
			return
		}
		highest = token
		fmt.Printf("wrote %q\n", what)
	}

	s1, err := concurrency.NewSession(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	m1 := concurrency.NewMutex(s1, "locks/file")
	if err := m1.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	old := m1.Token()
	write(old, "first holder")
	// The first holder pauses; meanwhile its session ends (here: closed)
	// and a second holder takes the lock and writes.
	s1.Close()
	s2, err := concurrency.NewSession(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	defer s2.Close()
	m2 := concurrency.NewMutex(s2, "locks/file")
	if err := m2.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	write(m2.Token(), "second holder")
	// The first holder resumes, still believing it holds the lock.
	write(old, "first holder, resumed")
	// Output:
	// wrote "first holder"
	// wrote "second holder"
	// refused "first holder, resumed" (token older than the current holder's)
}

// Candidates campaign; the one that campaigned first leads until it
// resigns or its session ends, and anyone can observe who leads.
func ExampleElection() {
	db, cleanup := openDB()
	defer cleanup()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	observed := make(chan string)
	go func() {
		defer close(observed)
		for l, err := range concurrency.Observe(ctx, db, "elections/scheduler") {
			if err != nil {
				return
			}
			select {
			case observed <- string(l.Value):
			case <-ctx.Done():
				return
			}
		}
	}()

	sa, err := concurrency.NewSession(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	defer sa.Close()
	sb, err := concurrency.NewSession(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()
	a := concurrency.NewElection(sa, "elections/scheduler")
	b := concurrency.NewElection(sb, "elections/scheduler")

	if err := a.Campaign(ctx, []byte("worker-a")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("observed:", <-observed)
	elected := make(chan error)
	go func() { elected <- b.Campaign(ctx, []byte("worker-b")) }() // waits behind a

	if err := a.Proclaim(ctx, []byte("worker-a (busy)")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("observed:", <-observed)
	if err := a.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	if err := <-elected; err != nil {
		log.Fatal(err)
	}
	fmt.Println("observed:", <-observed)
	l, err := b.Leader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leader:", string(l.Value))
	// Output:
	// observed: worker-a
	// observed: worker-a (busy)
	// observed: worker-b
	// leader: worker-b
}
