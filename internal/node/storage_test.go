package node

import (
	"slices"
	"testing"

	"github.com/yggrdb/yggr/engine"
)

// A run of jobs released after one sync sends, per leader and term, only
// the successful acknowledgement with the highest index; rejections,
// other messages and acknowledgements of other terms or leaders stay, in
// order.
func TestDropSupersededAcks(t *testing.T) {
	ack := func(to string, term, index uint64) engine.Message {
		return engine.Message{Type: engine.MsgAppResp, To: engine.NodeID(to), Term: term, Index: index}
	}
	reject := ack("n1", 2, 4)
	reject.Reject = true
	vote := engine.Message{Type: engine.MsgVoteResp, To: "n3", Term: 2}
	jobs := []storeJob{
		{late: []engine.Message{ack("n1", 2, 5), vote, ack("n1", 2, 6)}},
		{late: []engine.Message{reject, ack("n1", 2, 8), ack("n1", 1, 3)}},
		{},
		{late: []engine.Message{ack("n1", 2, 7), ack("n2", 2, 9), ack("n1", 2, 8)}},
	}
	dropSupersededAcks(jobs)
	want := [][]engine.Message{
		{vote},
		{reject, ack("n1", 1, 3)},
		nil,
		{ack("n2", 2, 9), ack("n1", 2, 8)}, // the last of the two at index 8
	}
	for k, j := range jobs {
		if !slices.EqualFunc(j.late, want[k], func(a, b engine.Message) bool {
			return a.Type == b.Type && a.To == b.To && a.Term == b.Term && a.Index == b.Index && a.Reject == b.Reject
		}) {
			t.Errorf("job %d holds %v, want %v", k, j.late, want[k])
		}
	}

	// One acknowledgement per leader and term: nothing changes.
	one := []storeJob{{late: []engine.Message{ack("n1", 2, 5), vote}}, {late: []engine.Message{ack("n1", 3, 6)}}}
	dropSupersededAcks(one)
	if len(one[0].late) != 2 || len(one[1].late) != 1 {
		t.Errorf("single acknowledgements were dropped: %v", one)
	}
}
