package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConfigValidate(t *testing.T) {
	base := func(f func(*Config)) Config {
		c := Config{ID: "n1", Peers: []NodeID{"n1", "n2", "n3"}, ElectionTicks: 10}
		if f != nil {
			f(&c)
		}
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"defaults", base(nil), ""},
		{"joining node without peers", base(func(c *Config) { c.Peers = nil }), ""},
		{"lease at the maximum", base(func(c *Config) { c.LeaseTicks = 8 }), ""},
		{"unsorted peers", base(func(c *Config) { c.Peers = []NodeID{"n3", "n1", "n2"} }), ""},
		{"empty id", base(func(c *Config) { c.ID = "" }), "node id"},
		{"long id", base(func(c *Config) { c.ID = NodeID(strings.Repeat("a", MaxNodeIDLen+1)) }), "node id"},
		{"bad id char", base(func(c *Config) { c.ID = "n 1" }), "node id"},
		{"bad peer", base(func(c *Config) { c.Peers = []NodeID{"n1", "n/2"} }), "peer id"},
		{"duplicate peer", base(func(c *Config) { c.Peers = []NodeID{"n1", "n2", "n2"} }), "listed twice"},
		{"peers without self", base(func(c *Config) { c.Peers = []NodeID{"n2", "n3"} }), "do not include"},
		{"election too small", base(func(c *Config) { c.ElectionTicks = 1 }), "HeartbeatTicks"},
		{"heartbeat negative", base(func(c *Config) { c.HeartbeatTicks = -1 }), "HeartbeatTicks"},
		{"heartbeat not below election", base(func(c *Config) { c.ElectionTicks, c.HeartbeatTicks = 5, 5 }), "HeartbeatTicks"},
		{"inflight negative", base(func(c *Config) { c.MaxInflightMsgs = -1 }), "must be positive"},
		{"pending reads negative", base(func(c *Config) { c.MaxPendingReads = -1 }), "must be positive"},
		{"drift negative", base(func(c *Config) { c.ClockDriftTicks = -1 }), "must be positive"},
		{"snapshot window negative", base(func(c *Config) { c.SnapshotWindow = -1 }), "must be positive"},
		{"snapshot window of one", base(func(c *Config) { c.SnapshotWindow = 1 }), ""},
		{"largest snapshot window", base(func(c *Config) { c.SnapshotWindow = MaxSnapshotWindow }), ""},
		{"snapshot window too large", base(func(c *Config) { c.SnapshotWindow = MaxSnapshotWindow + 1 }), "exceeds"},
		{"lease negative", base(func(c *Config) { c.LeaseTicks = -1 }), "negative"},
		{"lease without check-quorum", base(func(c *Config) { c.LeaseTicks = 5; c.DisableCheckQuorum = true }), "check-quorum"},
		{"lease too long", base(func(c *Config) { c.LeaseTicks = 9 }), "at most"},
		{"lease too long for drift", base(func(c *Config) { c.LeaseTicks = 8; c.ClockDriftTicks = 3 }), "at most"},
		{"chunk too large", base(func(c *Config) { c.SnapshotChunkBytes = 64<<20 + 1 }), "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			_, nerr := New(tt.cfg)
			if tt.want == "" {
				if err != nil || nerr != nil {
					t.Fatalf("got %v / %v, want valid", err, nerr)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalidConfig mentioning %q", err, tt.want)
			}
			if nerr == nil || !errors.Is(nerr, ErrInvalidConfig) {
				t.Fatalf("New: got %v, want ErrInvalidConfig", nerr)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	got := Config{ID: "n1", Peers: []NodeID{"n3", "n1"}}.WithDefaults()
	want := Config{ID: "n1", Peers: []NodeID{"n1", "n3"}, ElectionTicks: DefaultElectionTicks, HeartbeatTicks: DefaultHeartbeatTicks, MaxInflightMsgs: 256,
		MaxAppendBytes: 1 << 20, EntryCacheBytes: 8 << 20, MaxUncommittedBytes: 64 << 20, ClockDriftTicks: 1, MaxPendingReads: 4096,
		SnapshotMinBytes: 4 << 20, MaxLogEntries: 100000, MaxLogBytes: 64 << 20, CompactionKeep: 1000, SnapshotChunkBytes: 1 << 20, SnapshotWindow: 4}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("defaults (-want +got):\n%s", d)
	}
	// The caller's slice is not reordered.
	peers := []NodeID{"n3", "n1"}
	Config{ID: "n1", Peers: peers}.WithDefaults()
	if peers[0] != "n3" {
		t.Fatalf("WithDefaults sorted the caller's Peers: %v", peers)
	}
}

func TestValidNodeID(t *testing.T) {
	for _, tt := range []struct {
		id   NodeID
		want bool
	}{
		{"n1", true}, {"node-1.example_A", true}, {NodeID(strings.Repeat("x", MaxNodeIDLen)), true},
		{"", false}, {NodeID(strings.Repeat("x", MaxNodeIDLen+1)), false}, {"a b", false}, {"a/b", false}, {"é", false}, {"a\x00", false},
	} {
		if got := ValidNodeID(tt.id); got != tt.want {
			t.Errorf("ValidNodeID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

// MaxLeaseTicks is the minimum election timeout less the drift margin,
// defaults filled in, and itself a valid LeaseTicks.
func TestMaxLeaseTicks(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want int
	}{
		{"defaults", Config{}, DefaultElectionTicks - 1},
		{"ten ticks", Config{ElectionTicks: 10}, 8},
		{"explicit drift", Config{ElectionTicks: 10, ClockDriftTicks: 3}, 7},
		{"short timeout", Config{ElectionTicks: 3}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := MaxLeaseTicks(tc.cfg); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
			c := tc.cfg
			c.ID, c.LeaseTicks = "n1", tc.want
			if err := c.Validate(); err != nil {
				t.Fatalf("LeaseTicks %d does not validate: %v", tc.want, err)
			}
		})
	}
}

// Config.Validate at the exact edges of each rule.
func TestConfigValidateEdges(t *testing.T) {
	base := func(f func(*Config)) error {
		c := Config{ID: "n1", ElectionTicks: 10, HeartbeatTicks: 1}
		f(&c)
		return c.Validate()
	}
	cases := []struct {
		name string
		f    func(*Config)
		ok   bool
	}{
		{"election 2 heartbeat 1", func(c *Config) { c.ElectionTicks, c.HeartbeatTicks = 2, 1 }, true},
		{"heartbeat just below election", func(c *Config) { c.HeartbeatTicks = 9 }, true},
		{"heartbeat equal to election", func(c *Config) { c.HeartbeatTicks = 10 }, false},
		{"one inflight message", func(c *Config) { c.MaxInflightMsgs = 1 }, true},
		{"negative inflight", func(c *Config) { c.MaxInflightMsgs = -1 }, false},
		{"one pending read", func(c *Config) { c.MaxPendingReads = 1 }, true},
		{"negative pending reads", func(c *Config) { c.MaxPendingReads = -1 }, false},
		{"one drift tick", func(c *Config) { c.ClockDriftTicks = 1 }, true},
		{"negative drift", func(c *Config) { c.ClockDriftTicks = -1 }, false},
		{"lease at the bound", func(c *Config) { c.ClockDriftTicks, c.LeaseTicks = 2, 8 }, true},
		{"lease one past the bound", func(c *Config) { c.ClockDriftTicks, c.LeaseTicks = 2, 9 }, false},
		{"chunk of 64 MiB", func(c *Config) { c.SnapshotChunkBytes = 64 << 20 }, true},
		{"chunk past 64 MiB", func(c *Config) { c.SnapshotChunkBytes = 64<<20 + 1 }, false},
	}
	for _, c := range cases {
		if err := base(c.f); (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}
