package sim

import "github.com/yggrdb/yggr/engine"

// corrupt returns m with one or more fields set to odd or extreme values.
func (w *world) corrupt(m engine.Message) engine.Message {
	r := w.rng
	odd := func(v uint64) uint64 {
		switch r.IntN(7) {
		case 0:
			return 0
		case 1:
			return v + 1
		case 2:
			return v - 1
		case 3:
			return ^uint64(0)
		case 4:
			return 1 << 63
		case 5:
			return v + uint64(r.IntN(1000))
		}
		return r.Uint64() % 4096
	}
	for n := 1 + r.IntN(3); n > 0; n-- {
		switch r.IntN(16) {
		case 0:
			m.Type = engine.MessageType(r.IntN(20))
		case 1:
			m.Term = odd(m.Term)
		case 2:
			m.LastIndex, m.LastTerm = odd(m.LastIndex), odd(m.LastTerm)
		case 3:
			m.PrevIndex = odd(m.PrevIndex)
		case 4:
			m.PrevTerm = odd(m.PrevTerm)
		case 5:
			m.Commit = odd(m.Commit)
		case 6:
			m.Index = odd(m.Index)
		case 7:
			m.HintIndex, m.HintTerm = odd(m.HintIndex), odd(m.HintTerm)
		case 8:
			m.Reject = !m.Reject
		case 9:
			m.Context = odd(m.Context)
		case 10:
			if len(m.Entries) > 0 {
				i := r.IntN(len(m.Entries))
				switch r.IntN(4) {
				case 0:
					m.Entries[i].Index = odd(m.Entries[i].Index)
				case 1:
					m.Entries[i].Term = odd(m.Entries[i].Term)
				case 2:
					m.Entries[i].Type = engine.EntryType(r.IntN(8))
				case 3:
					m.Entries[i].Data = []byte{byte(r.IntN(256)), 0xff, 0}
				}
			} else {
				m.Entries = []engine.Entry{{Term: odd(m.Term), Index: odd(m.PrevIndex + 1), Type: engine.EntryType(r.IntN(4)), Data: []byte("x")}}
			}
		case 11:
			m.Snapshot.Index, m.Snapshot.Term = odd(m.Snapshot.Index), odd(m.Snapshot.Term)
		case 12:
			m.Offset = odd(m.Offset)
		case 13:
			m.Data = make([]byte, r.IntN(64))
			m.Done = r.IntN(2) == 0
		case 14:
			m.From = []engine.NodeID{"", "zz", "n9", m.To, "n1"}[r.IntN(5)]
		case 15:
			m.Snapshot.Membership = engine.Membership{Voters: []engine.NodeID{"n2", "n1", "n1"}, Learners: []engine.NodeID{""}}
		}
	}
	return m
}
