package yggr_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/yggrdb/yggr"
)

// tempDir makes a throwaway data directory for an example.
func tempDir() string {
	dir, err := os.MkdirTemp("", "yggr-example-")
	if err != nil {
		log.Fatal(err)
	}
	return dir
}

func Example() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()

	db, err := yggr.Open(dir, nil) // single node, no network
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	if err := db.Put(ctx, []byte("greeting"), []byte("hello")); err != nil {
		log.Fatal(err)
	}
	v, err := db.Get(ctx, []byte("greeting")) // linearizable by default
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(v))
	// Output: hello
}

func ExampleDB_Get_stale() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := yggr.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	index, err := db.PutIndex(ctx, []byte("k"), []byte("v1"))
	if err != nil {
		log.Fatal(err)
	}
	// A stale read served locally, but no older than our own write.
	v, err := db.Get(ctx, []byte("k"), yggr.WithConsistency(yggr.Stale), yggr.AtLeast(index))
	fmt.Println(string(v), err)
	// Output: v1 <nil>
}

func ExampleDB_Delete() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, _ := yggr.Open(dir, nil)
	defer db.Close()

	db.Put(ctx, []byte("k"), []byte("v"))
	db.Delete(ctx, []byte("k"))
	_, err := db.Get(ctx, []byte("k"))
	fmt.Println(err == yggr.ErrNotFound)
	// Output: true
}

func ExampleDB_Scan() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, _ := yggr.Open(dir, nil)
	defer db.Close()

	for _, k := range []string{"user/2", "user/1", "order/1"} {
		db.Put(ctx, []byte(k), []byte("x"))
	}
	prefix := []byte("user/")
	for it, err := range db.Scan(ctx, prefix, yggr.PrefixEnd(prefix)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(it.Key))
	}
	// Output:
	// user/1
	// user/2
}

func ExampleDB_List() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, _ := yggr.Open(dir, nil)
	defer db.Close()

	for _, k := range []string{"a", "b", "c"} {
		db.Put(ctx, []byte(k), []byte(k))
	}
	items, more, _ := db.List(ctx, []byte("a"), nil, 2)
	fmt.Println(len(items), more)
	// Output: 2 true
}

func ExampleDB_CompareAndSwap() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, _ := yggr.Open(dir, nil)
	defer db.Close()

	// A lock: create only if missing.
	got, _ := db.CompareAndSwap(ctx, []byte("lock"), nil, []byte("owner-1"))
	again, _ := db.CompareAndSwap(ctx, []byte("lock"), nil, []byte("owner-2"))
	fmt.Println(got, again)
	// Output: true false
}

func ExampleDB_Txn() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, _ := yggr.Open(dir, nil)
	defer db.Close()

	db.Put(ctx, []byte("balance"), []byte("10"))
	item, _ := db.GetItem(ctx, []byte("balance"))
	// Update only if nobody changed the key since we read it.
	res, err := db.Txn(ctx, yggr.Txn{
		Compares: []yggr.Compare{{Key: []byte("balance"), Target: yggr.CmpModIndex, ModIndex: item.ModIndex}},
		Then:     []yggr.Request{{Op: yggr.OpPut, Key: []byte("balance"), Value: []byte("7")}},
		Else:     []yggr.Request{{Op: yggr.OpGet, Key: []byte("balance")}},
	})
	fmt.Println(res.Succeeded, err)
	// Output: true <nil>
}

func ExampleDB_TxnEach() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, _ := yggr.Open(dir, nil)
	defer db.Close()

	// Three independent writes proposed together: each is its own log
	// entry with its own outcome; the empty key fails alone.
	_, errs := db.TxnEach(ctx, []yggr.Txn{
		{Then: []yggr.Request{{Op: yggr.OpPut, Key: []byte("a"), Value: []byte("1")}}},
		{Then: []yggr.Request{{Op: yggr.OpPut, Key: []byte(""), Value: []byte("2")}}},
		{Then: []yggr.Request{{Op: yggr.OpPut, Key: []byte("c"), Value: []byte("3")}}},
	})
	for _, err := range errs {
		fmt.Println(err)
	}
	v, _ := db.Get(ctx, []byte("c"))
	fmt.Println(string(v))
	// Output:
	// <nil>
	// yggr: invalid argument: then request 0: empty key
	// <nil>
	// 3
}

func ExampleDB_GetItem() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, _ := yggr.Open(dir, nil)
	defer db.Close()

	db.Put(ctx, []byte("k"), []byte("a"))
	db.Put(ctx, []byte("k"), []byte("b"))
	it, _ := db.GetItem(ctx, []byte("k"))
	fmt.Println(string(it.Value), it.Version)
	// Output: b 2
}

func ExampleDB_Backup() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, _ := yggr.Open(dir, nil)
	db.Put(ctx, []byte("k"), []byte("saved"))

	var backup bytes.Buffer
	if _, err := db.Backup(ctx, &backup); err != nil {
		log.Fatal(err)
	}
	db.Close()

	restored := tempDir()
	os.RemoveAll(restored) // RestoreBackup wants a new directory
	defer os.RemoveAll(restored)
	if _, err := yggr.RestoreBackup(restored, "n1", &backup); err != nil {
		log.Fatal(err)
	}
	db2, err := yggr.Open(restored, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db2.Close()
	v, _ := db2.Get(ctx, []byte("k"))
	fmt.Println(string(v))
	// Output: saved
}

func ExampleDB_Status() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	db, _ := yggr.Open(dir, nil)
	defer db.Close()

	s := db.Status()
	fmt.Println(s.ID, s.Role, s.Leader, len(s.Members))
	// Output: n1 leader n1 1
}

func ExampleDB_Metrics() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, _ := yggr.Open(dir, nil)
	defer db.Close()

	db.Put(ctx, []byte("k"), []byte("v"))
	m := db.Metrics()
	fmt.Println(m.IsLeader, m.Term >= 1, m.Role)
	// Output: true true leader
}

func ExampleDB_Snapshot() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, _ := yggr.Open(dir, nil)
	defer db.Close()

	db.Put(ctx, []byte("k"), []byte("v"))
	index, err := db.Snapshot(ctx)
	fmt.Println(index >= 2, err)
	// Output: true <nil>
}

func ExampleParseConsistency() {
	c, err := yggr.ParseConsistency("lease")
	fmt.Println(c, err)
	// Output: lease <nil>
}

func ExampleDB_Watch() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, _ := yggr.Open(dir, nil)
	defer db.Close()

	// The watch follows every change from the moment Watch is called,
	// even the ones made before the loop starts.
	prefix := []byte("jobs/")
	changes := db.Watch(ctx, prefix, yggr.PrefixEnd(prefix), yggr.WithPrevItem())
	db.Put(ctx, []byte("jobs/1"), []byte("queued"))
	db.Put(ctx, []byte("other"), []byte("not watched"))
	db.Txn(ctx, yggr.Txn{Then: []yggr.Request{ // one revision, two events
		{Op: yggr.OpPut, Key: []byte("jobs/1"), Value: []byte("running")},
		{Op: yggr.OpPut, Key: []byte("jobs/2"), Value: []byte("queued")},
	}})
	db.Delete(ctx, []byte("jobs/1"))

	for c, err := range changes {
		if err != nil {
			log.Fatal(err)
		}
		for _, ev := range c.Events {
			was := "-"
			if ev.Prev != nil {
				was = string(ev.Prev.Value)
			}
			fmt.Printf("%d events: %s %s %q (was %s)\n", len(c.Events), ev.Type, ev.Item.Key, ev.Item.Value, was)
		}
		if c.Events[0].Type == yggr.EventDelete {
			break
		}
	}
	// Output:
	// 1 events: put jobs/1 "queued" (was -)
	// 2 events: put jobs/1 "running" (was queued)
	// 2 events: put jobs/2 "queued" (was -)
	// 1 events: delete jobs/1 "" (was running)
}

// List, then watch: read a range and the revision it was read at, then
// watch from the next revision. No change is missed and none is seen
// twice, however much time passes in between (as long as the node keeps
// the history: see CompactedError).
func ExampleReadRevision() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, _ := yggr.Open(dir, nil)
	defer db.Close()

	prefix := []byte("config/")
	db.Put(ctx, []byte("config/a"), []byte("1"))
	db.Put(ctx, []byte("config/b"), []byte("2"))

	var rev uint64
	items, _, err := db.List(ctx, prefix, yggr.PrefixEnd(prefix), 0, yggr.ReadRevision(&rev))
	if err != nil {
		log.Fatal(err)
	}
	config := map[string]string{}
	for _, it := range items {
		config[string(it.Key)] = string(it.Value)
	}
	fmt.Println("listed:", config)

	db.Put(ctx, []byte("config/b"), []byte("3")) // a change after the list

	for c, err := range db.Watch(ctx, prefix, yggr.PrefixEnd(prefix), yggr.FromRevision(rev+1)) {
		if err != nil {
			log.Fatal(err) // a *CompactedError: list again
		}
		for _, ev := range c.Events {
			switch ev.Type {
			case yggr.EventPut:
				config[string(ev.Item.Key)] = string(ev.Item.Value)
			case yggr.EventDelete:
				delete(config, string(ev.Item.Key))
			}
		}
		fmt.Println("watched:", config, c.Revision > rev)
		break
	}
	// Output:
	// listed: map[config/a:1 config/b:2]
	// watched: map[config/a:1 config/b:3] true
}

func ExampleWithProgressNotify() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, _ := yggr.Open(dir, nil)
	defer db.Close()

	// A write elsewhere: the database is at revision 1 or later.
	if err := db.Put(ctx, []byte("elsewhere"), []byte("x")); err != nil {
		log.Fatal(err)
	}
	// A quiet range still tells the watcher how current it is.
	prefix := []byte("quiet/")
	for c, err := range db.Watch(ctx, prefix, yggr.PrefixEnd(prefix), yggr.WithProgressNotify(10*time.Millisecond)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.IsProgress(), c.Revision >= 1)
		break
	}
	// Output: true true
}
