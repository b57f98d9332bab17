// Command yggr runs a yggr node as a sidecar and talks to one: the same
// database an application gets from yggr.Open, behind the HTTP API of
// package httpapi.
//
// # Usage
//
//	yggr demo                        # a three-node cluster on loopback, a killed leader, nothing lost
//	yggr serve                       # a single-node database in ./yggr-data, HTTP on 127.0.0.1:7070
//	yggr put greeting hello          # OK
//	yggr get greeting                # hello (the raw value, nothing else)
//	yggr scan --prefix user/         # key and value lines, in key order
//	yggr cas counter 41 42           # compare-and-swap; --missing: create if absent
//	yggr txn < txn.json              # the body of POST /v1/txn
//	yggr put svc/n1 ADDR --ttl 10s   # grant a lease, attach the key, print the lease ID
//	yggr lease keepalive ID          # keep it alive until Ctrl-C (--once: renew once)
//	yggr lease grant|revoke|ttl|list # the other lease operations
//	yggr lock NAME -- CMD ARGS...    # run CMD holding a lock (fencing token in $YGGR_LOCK_TOKEN)
//	yggr elect NAME VALUE            # campaign, lead until Ctrl-C; elect -l NAME: observe the leader
//	yggr status                      # members with role, term, commit, applied, match, lag
//	yggr members add n4 HOST:7071 --learner; yggr members promote n4
//	yggr backup db.backup; yggr restore --dir DIR --id n1 db.backup
//	yggr certs init --out certs; yggr certs node --ca-dir certs --id n1 --host 10.0.0.1 --out certs
//	yggr bench --concurrency 16 --duration 10s --read-ratio 0.5
//
// A cluster: give every node the same --peers (id=host:port of every voter's
// Raft address) and the same --cluster-secret (or certificates from yggr
// certs); grow it later with `yggr serve --join HOST:PORT`, which adds the
// new node as a learner and promotes it once it has caught up.
//
// Every flag can be set by an environment variable: YGGR_ and the flag's
// name in upper case with '-' as '_' (YGGR_ADDR, YGGR_TOKEN, YGGR_DIR, ...).
// Client commands take --addr, a comma-separated list of endpoints tried in
// turn, --token, --output text|json, and --timeout.
//
// Data goes to stdout, and nothing else does: errors go to stderr as
// "Error: ...", progress bars (only on a terminal) and logs to stderr too.
// Exit codes: 0 success, 1 any other error (including a failed compare),
// 2 bad usage or invalid input (a lease TTL out of range too), 3 not found
// (a key, a member, or a lease never granted, revoked or expired), 4
// unavailable (no leader, no endpoint answered, busy, or timed out; a lock
// or leadership lost). yggr lock exits with its command's exit code.
//
// # Caveats
//
// A put or a transaction that fails with exit code 4 after reaching a node
// (a timeout, a dropped connection) may still have been applied; only a
// refusal before the log (no leader) is certain not to have been. `yggr
// status` shows a member's own term, commit and applied index only when its
// HTTP endpoint is among --addr; for the others it shows the leader's view
// (match index), and only when the leader is among --addr. `yggr serve
// --join` talks plain HTTP to the member it joins through, or HTTPS with
// an https:// address (system roots) or --join-ca FILE. A node with no
// --peers has no peer listener and refuses to add members; restarted with
// only itself in --peers it listens and can be grown with --join.
// The demo starts child processes of this binary; it and the tests listen
// on 127.0.0.1 only.
package main
