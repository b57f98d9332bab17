package engine

import "testing"

// byteChooser draws choices from fuzzer bytes; when they run out every
// choice is 0 and the schedule ends.
type byteChooser struct {
	b []byte
}

func (c *byteChooser) intn(_ string, n int) int {
	if len(c.b) == 0 || n <= 1 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	if n > 256 && len(c.b) > 0 {
		v = v<<8 | int(c.b[0])
		c.b = c.b[1:]
	}
	return v % n
}

func (c *byteChooser) u64(label string, small bool) uint64 {
	if small {
		return uint64(c.intn(label, 12))
	}
	var v uint64
	for range 8 {
		v = v<<8 | uint64(c.intn(label, 256))
	}
	return v
}

// forge injects a malformed or forged message: either a mutated copy of a
// message in flight, or one with arbitrary fields, sent to a live node.
func (env *iEnv) forge(ch chooser) {
	env.byzantine = true
	bc, _ := ch.(*byteChooser)
	num := func(label string) uint64 {
		if bc != nil && ch.intn(label+"-big", 8) == 0 {
			return bc.u64(label, false)
		}
		return uint64(ch.intn(label, 12))
	}
	ids := []NodeID{"n1", "n2", "n3", "n4", "n9", "", "bad id", NodeID(make([]byte, 70))}
	var m Message
	if len(env.msgs) > 0 && ch.intn("mutate", 2) == 0 {
		m = env.msgs[ch.intn("msg", len(env.msgs))]
		m.Entries = append([]Entry(nil), m.Entries...)
	} else {
		m = Message{Type: MessageType(ch.intn("type", int(maxMessageType)+2)), From: ids[ch.intn("from", len(ids))], To: env.ids[ch.intn("to", len(env.ids))]}
		m.Term = num("term")
	}
	for range ch.intn("fields", 6) {
		switch ch.intn("field", 20) {
		case 0:
			m.Term = num("term")
		case 1:
			m.LastIndex, m.LastTerm = num("lastindex"), num("lastterm")
		case 2:
			m.Transfer = !m.Transfer
		case 3:
			m.PrevIndex, m.PrevTerm = num("previndex"), num("prevterm")
		case 4:
			m.Commit = num("commit")
		case 5:
			m.Reject = !m.Reject
		case 6:
			m.Index = num("index")
		case 7:
			m.HintIndex, m.HintTerm = num("hintindex"), num("hintterm")
		case 8:
			m.Context = num("context")
		case 9:
			m.Snapshot.Index, m.Snapshot.Term = num("snapindex"), num("snapterm")
		case 10:
			mem := []Membership{{}, NewMembership([]NodeID{"n1", "n2", "n3"}, nil), {Voters: []NodeID{"n3", "n1"}},
				{Voters: []NodeID{"n1"}, Learners: []NodeID{"n1"}}, NewMembership([]NodeID{"n2"}, []NodeID{"n4"})}
			m.Snapshot.Membership = mem[ch.intn("membership", len(mem))]
		case 11:
			m.Offset = num("offset")
		case 12:
			m.Data = make([]byte, ch.intn("datalen", 10))
		case 13:
			m.Done = !m.Done
		case 14, 15:
			n := ch.intn("nentries", 4)
			first := num("first")
			m.Entries = nil
			for i := range n {
				e := Entry{Index: first + uint64(i), Term: num("eterm"), Type: EntryType(ch.intn("etype", 4))}
				if ch.intn("gap", 4) == 0 {
					e.Index = num("eindex")
				}
				if e.Type == EntryConfig {
					e.Data = MarshalConfig(ConfChange{Op: ConfRemove, Node: "n3"}, NewMembership([]NodeID{"n1", "n2"}, nil))
					if ch.intn("garbage", 2) == 0 {
						e.Data = []byte{1, 9, 9}
					}
				}
				m.Entries = append(m.Entries, e)
			}
		case 16:
			m.Type = MessageType(ch.intn("type", int(maxMessageType)+2))
		case 17:
			m.From = ids[ch.intn("from", len(ids))]
		case 18:
			m.To = ids[ch.intn("to", len(ids))]
		case 19:
			m.Entries = nil
		}
	}
	if n := env.nodes[m.To]; n != nil && n.e != nil {
		env.step(m.To, Receive{Msg: m})
	}
}

// FuzzEngineEvents decodes bytes into a schedule of events for a small
// cluster (ticks, deliveries, drops, duplicates, proposals, reads,
// crash/restart, transfers, snapshots, membership changes, partitions) with
// forged and mutated messages mixed in. The engine must never panic, and
// the per-node invariants hold: terms and commit indexes never go back,
// one vote per term, contiguous logs, floor ≤ snapshot ≤ applied ≤ commit
// ≤ last, entries applied in order. Without forged messages (the first
// byte even) the cluster-wide safety properties are checked too.
func FuzzEngineEvents(f *testing.F) {
	for i := range 24 {
		b := make([]byte, 300)
		x := uint32(i*2654435761 + 1)
		for j := range b {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b[j] = byte(x)
		}
		b[0] = byte(i)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		ch := &byteChooser{b: data}
		opt := simOptions{
			byzantine: ch.intn("byzantine", 2) == 1,
			lockstep:  ch.intn("lockstep", 2) == 1,
			preVote:   ch.intn("prevote", 2) == 1,
			steps:     len(data),
		}
		opt.lease = opt.lockstep && ch.intn("lease", 2) == 1
		env := newSimEnv(t, func(format string, args ...any) { t.Fatalf(format, args...) }, opt)
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panic: %v", r)
			}
		}()
		runSim(ch, env, opt)
	})
}
