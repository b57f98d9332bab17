package engine

import (
	"fmt"
	"testing"
)

func TestMessageString(t *testing.T) {
	es := []Entry{{Term: 3, Index: 18}, {Term: 3, Index: 19}}
	snap := SnapshotMeta{Term: 2, Index: 11}
	tests := []struct {
		m    Message
		want string
	}{
		{Message{Type: MsgPreVote, From: "n1", To: "n2", Term: 4, LastIndex: 9, LastTerm: 3}, "n1->n2 PreVote 4 last=3/9"},
		{Message{Type: MsgVote, From: "n1", To: "n2", Term: 4, LastIndex: 9, LastTerm: 3, Transfer: true}, "n1->n2 Vote 4 last=3/9 transfer"},
		{Message{Type: MsgPreVoteResp, From: "n2", To: "n1", Term: 4}, "n2->n1 PreVoteResp 4 granted"},
		{Message{Type: MsgVoteResp, From: "n2", To: "n1", Term: 4, Reject: true}, "n2->n1 VoteResp 4 reject"},
		{Message{Type: MsgApp, From: "n1", To: "n2", Term: 3, PrevIndex: 17, PrevTerm: 3, Entries: es, Commit: 17}, "n1->n2 App 3 prev=3/17 entries=[3/18 3/19] commit=17"},
		{Message{Type: MsgApp, From: "n1", To: "n2", Term: 3}, "n1->n2 App 3 prev=0/0 entries=[] commit=0"},
		{Message{Type: MsgAppResp, From: "n2", To: "n1", Term: 3, Index: 19}, "n2->n1 AppResp 3 match=19"},
		{Message{Type: MsgAppResp, From: "n2", To: "n1", Term: 3, Reject: true, Index: 19, HintIndex: 12, HintTerm: 2}, "n2->n1 AppResp 3 reject=19 hint=2/12"},
		{Message{Type: MsgHeartbeat, From: "n1", To: "n2", Term: 3, Commit: 5, Context: 7}, "n1->n2 Heartbeat 3 commit=5 ctx=7"},
		{Message{Type: MsgHeartbeatResp, From: "n2", To: "n1", Term: 3, Context: 7}, "n2->n1 HeartbeatResp 3 ctx=7"},
		{Message{Type: MsgSnap, From: "n1", To: "n2", Term: 3, Snapshot: snap, Offset: 8, Data: []byte("abcd")}, "n1->n2 Snap 3 snap=2/11 off=8 len=4"},
		{Message{Type: MsgSnap, From: "n1", To: "n2", Term: 3, Snapshot: snap, Offset: 12, Done: true}, "n1->n2 Snap 3 snap=2/11 off=12 len=0 done"},
		{Message{Type: MsgSnapResp, From: "n2", To: "n1", Term: 3, Snapshot: snap, Offset: 8, Index: 12}, "n2->n1 SnapResp 3 snap=2/11 off=8 next=12"},
		{Message{Type: MsgSnapResp, From: "n2", To: "n1", Term: 3, Snapshot: snap, Reject: true}, "n2->n1 SnapResp 3 snap=2/11 off=0 next=0 reject"},
		{Message{Type: MsgTimeoutNow, From: "n1", To: "n2", Term: 3}, "n1->n2 TimeoutNow 3"},
		{Message{Type: MsgReadIndex, From: "n2", To: "n1", Term: 3, Context: 4}, "n2->n1 ReadIndex 3 ctx=4"},
		{Message{Type: MsgReadIndexResp, From: "n1", To: "n2", Term: 3, Context: 4, Index: 9}, "n1->n2 ReadIndexResp 3 ctx=4 index=9"},
		{Message{Type: MsgReadIndexResp, From: "n1", To: "n2", Term: 3, Context: 4, Reject: true}, "n1->n2 ReadIndexResp 3 ctx=4 index=0 reject"},
		{Message{Type: MsgNone, From: "n1", To: "n2"}, "n1->n2 None 0"},
		{Message{Type: MessageType(99), From: "n1", To: "n2", Term: 1}, "n1->n2 MessageType(99) 1"},
		{Message{Type: maxMessageType, From: "n1", To: "n2", Term: 1}, fmt.Sprintf("n1->n2 MessageType(%d) 1", maxMessageType)},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestMessageTypePredicates(t *testing.T) {
	for mt := MsgNone; mt <= maxMessageType; mt++ {
		wantValid := mt != MsgNone && mt != maxMessageType
		if mt.Valid() != wantValid {
			t.Errorf("%v.Valid() = %v, want %v", mt, mt.Valid(), wantValid)
		}
		wantResp := false
		switch mt {
		case MsgPreVoteResp, MsgVoteResp, MsgAppResp, MsgHeartbeatResp, MsgSnapResp, MsgReadIndexResp:
			wantResp = true
		}
		if mt.IsResponse() != wantResp {
			t.Errorf("%v.IsResponse() = %v, want %v", mt, mt.IsResponse(), wantResp)
		}
	}
}
