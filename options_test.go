package yggr

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
)

// Every option value that makes no sense is refused by Open, before it
// touches the directory, with an error wrapping ErrInvalid that names the
// option and says why.
func TestOpenRefusesBadOptions(t *testing.T) {
	cases := []struct {
		name string
		opt  Option
		want string // the option named, and why
	}{
		{"negative tick", WithTiming(-time.Millisecond, 8), "WithTiming: tick -1ms is shorter than 1ms"},
		{"sub-millisecond tick", WithTiming(time.Microsecond, 8), "WithTiming: tick 1µs"},
		{"negative election ticks", WithTiming(50*time.Millisecond, -1), "WithTiming: election timeout of -1 ticks"},
		{"election timeout of one tick", WithTiming(50*time.Millisecond, 1), "WithTiming: election timeout of 1 ticks is below 2"},
		{"negative key limit", WithLimits(Limits{MaxKeyBytes: -1}), "WithLimits: negative limit"},
		{"negative value limit", WithLimits(Limits{MaxValueBytes: -1}), "WithLimits: negative limit"},
		{"negative txn limit", WithLimits(Limits{MaxTxnOps: -1}), "WithLimits: negative limit"},
		{"negative watch cache", WithWatchCache(-1), "WithWatchCache: -1 bytes is negative"},
		{"negative snapshot write rate", WithSnapshotWriteRate(-1), "WithSnapshotWriteRate: -1 bytes per second is negative"},
		{"negative watch buffer", WithWatchBuffer(-1), "WithWatchBuffer: -1 bytes is negative"},
		{"malformed id", WithID("bad id!"), "WithID: \"bad id!\" is not a node id"},
		{"over-long id", WithID(strings.Repeat("n", engine.MaxNodeIDLen+1)), "WithID: \"nnn"},
		{"listen address without port", WithListenAddr("127.0.0.1"), "WithListenAddr: \"127.0.0.1\""},
		{"TLS and secret", func(o *options) { WithTLS(&tls.Config{})(o); WithClusterSecret("s")(o) }, "WithTLS: excludes WithClusterSecret"},
		{"insecure and secret", func(o *options) { WithInsecure()(o); WithClusterSecret("s")(o) }, "WithInsecure: excludes"},
		{"inconsistent engine ticks", withEngine(func(c *engine.Config) { c.HeartbeatTicks = c.ElectionTicks }), "HeartbeatTicks"},
		{"lease longer than the drift allows", func(o *options) {
			WithLeaseReads()(o)
			withEngine(func(c *engine.Config) { c.ClockDriftTicks = c.ElectionTicks })(o)
		}, "LeaseTicks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			db, err := Open(dir, nil, c.opt)
			if err == nil {
				db.Close()
				t.Fatalf("Open succeeded, want ErrInvalid containing %q", c.want)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrInvalid containing %q", err, c.want)
			}
			// The refusal left the directory free.
			db, err = Open(dir, nil)
			if err != nil {
				t.Fatalf("Open after a refused option: %v", err)
			}
			db.Close()
		})
	}
}

// Zero values select the defaults, in one place.
func TestOptionDefaults(t *testing.T) {
	var o options
	WithTiming(0, 0)(&o)
	WithLimits(Limits{})(&o)
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if o.tick != 50*time.Millisecond || o.electionTks != 8 {
		t.Errorf("timing: got %v and %d ticks, want 50ms and 8 ticks", o.tick, o.electionTks)
	}
	if want := (Limits{MaxKeyBytes: 4 << 10, MaxValueBytes: 1 << 20, MaxTxnOps: 128}); o.limits.WithDefaults() != want {
		t.Errorf("limits: got %+v, want %+v", o.limits, want)
	}
	ecfg, err := o.engineConfig("n1")
	if err != nil {
		t.Fatal(err)
	}
	if ecfg.ElectionTicks != 8 || ecfg.LeaseTicks != 0 {
		t.Errorf("engine config: got %d election ticks, lease %d, want 8 and 0", ecfg.ElectionTicks, ecfg.LeaseTicks)
	}
	WithLeaseReads()(&o)
	if ecfg, err = o.engineConfig("n1"); err != nil || ecfg.LeaseTicks != 7 {
		t.Errorf("lease: got %d ticks (%v), want 8 less the drift margin of 1 = 7", ecfg.LeaseTicks, err)
	}
}
