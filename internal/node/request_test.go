package node

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/kv"

	"github.com/yggrdb/yggr/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestForwardGolden locks the bytes of every forwarded request and of the
// answers: a change shows as a reviewed diff of testdata/forward.golden.
// Version 0 is the layout of every earlier release (a bare kind or status
// byte first), so these bytes are what peers of those releases send and
// read.
func TestForwardGolden(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
	}{
		{"request propose put k=v", appendRequest(callPropose, kv.EncodePut([]byte("k"), []byte("v"))...)},
		{"request membership add-voter n4 127.0.0.1:7401", encodeConfChange(engine.ConfChange{Op: engine.ConfAddVoter, Node: "n4", Addr: "127.0.0.1:7401"})},
		{"request membership add-learner n4 127.0.0.1:7401", encodeConfChange(engine.ConfChange{Op: engine.ConfAddLearner, Node: "n4", Addr: "127.0.0.1:7401"})},
		{"request membership promote n4", encodeConfChange(engine.ConfChange{Op: engine.ConfPromote, Node: "n4"})},
		{"request membership remove n1", encodeConfChange(engine.ConfChange{Op: engine.ConfRemove, Node: "n1"})},
		{"request transfer n2", appendRequest(callTransfer, []byte("n2")...)},
		{"request leader-call ka", appendRequest(callLeader, []byte("ka")...)},
		{"request status", appendRequest(callStatus)},
		{"request addrs", appendRequest(callAddrs)},
		{"answer ok 3/17 res", encodeResponse(17, []byte("res"), nil)},
		{"answer not-leader n2", encodeResponse(0, nil, &NotLeaderError{Leader: "n2"})},
		{"answer busy", encodeResponse(0, nil, ErrBusy)},
		{"answer other boom", encodeResponse(0, nil, errors.New("boom"))},
		{"answer status", encodeResponse(0, encodePeerStatus(PeerStatus{Role: engine.Leader, Leader: "n1", Term: 3, Commit: 17, Applied: 16, LastIndex: 18}), nil)},
		{"answer addrs", encodeResponse(0, encodeAddrBook(map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "[::1]:7002"}), nil)},
	}
	var sb strings.Builder
	for _, c := range cases {
		fmt.Fprintf(&sb, "%s\n%s\n", c.name, hex.EncodeToString(c.b))
	}
	testutil.Golden(t, filepath.Join("testdata", "forward.golden"), []byte(sb.String()), *update)
}

// TestForwardVersions: a request or answer of another layout version is
// refused with an error naming the version, never read as a kind or a
// status; the statuses and kinds fit the header's four bits.
func TestForwardVersions(t *testing.T) {
	if statusStorage > 0x0f || callAddrs > 0x0f {
		t.Fatalf("a status (%d) or kind (%d) overflows the header's low four bits", statusStorage, callAddrs)
	}
	n := &Node{addrs: &addrBook{addrs: map[engine.NodeID]string{}}}
	newer := appendRequest(callTransfer, []byte("n2")...)
	newer[0] |= 1 << 4
	if _, err := n.handleCall(t.Context(), "n2", newer); err == nil || !strings.Contains(err.Error(), "version 1") {
		t.Errorf("request of version 1: err = %v, want a refusal naming the version", err)
	}
	if _, err := n.handleCall(t.Context(), "n2", nil); err == nil {
		t.Error("empty request accepted")
	}
	if _, err := n.handleCall(t.Context(), "n2", appendRequest(0x0f)); err == nil || !strings.Contains(err.Error(), "unknown forwarded request kind 15") {
		t.Errorf("unknown kind: err = %v", err)
	}
	resp := encodeResponse(3, []byte("x"), nil)
	resp[0] |= 1 << 4
	if _, _, err := n.decodeResponse(resp); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "version 1") {
		t.Errorf("answer of version 1: err = %v, want ErrCorrupt naming the version", err)
	}
}

// TestForwardedErrorOnePrefix: a refusal forwarded back from the leader
// names its kind once (issue 18: "yggr: membership change refused (at the
// leader: yggr: membership change refused: engine: ...)").
func TestForwardedErrorOnePrefix(t *testing.T) {
	n := &Node{addrs: &addrBook{addrs: map[engine.NodeID]string{}}}
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: %v", ErrMembership, engine.ErrConfNotReady),
			"yggr: membership change refused: engine: leader has not committed an entry in its term yet (at the leader)"},
		{ErrBusy, ErrBusy.Error() + " (at the leader)"},
	}
	for _, tt := range tests {
		_, _, err := n.decodeResponse(encodeResponse(0, nil, tt.err))
		if err == nil || err.Error() != tt.want {
			t.Errorf("forwarded %q: got %v, want %q", tt.err, err, tt.want)
		}
		for _, e := range statusErrors {
			if errors.Is(tt.err, e) && !errors.Is(err, e) {
				t.Errorf("forwarded %q: got %v, which is not %v", tt.err, err, e)
			}
		}
	}
}

// TestForwardRefusesPaddedVarint: every length or index in a forwarded
// request or answer must be the shortest uvarint encoding (record.Uvarint),
// so that what decodes re-encodes to the same bytes. Each input is a valid
// encoding with one varint padded by a redundant 0x80 0x00 pair.
func TestForwardRefusesPaddedVarint(t *testing.T) {
	n := &Node{addrs: &addrBook{addrs: map[engine.NodeID]string{}}}
	hdr := encodeResponse(17, []byte("res"), nil)[0]
	if _, idx, err := n.decodeResponse([]byte{hdr, 0x11, 'r', 'e', 's'}); err != nil || idx != 17 {
		t.Fatalf("canonical answer: index %d, err %v; want 17, nil", idx, err)
	}
	if _, _, err := n.decodeResponse([]byte{hdr, 0x91, 0x00, 'r', 'e', 's'}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("answer with a padded index: err = %v, want ErrCorrupt", err)
	}
	op := byte(engine.ConfPromote)
	if cc, err := decodeConfChange([]byte{op, 0x02, 'n', '4'}); err != nil || cc.Node != "n4" {
		t.Fatalf("canonical membership request: %+v, %v", cc, err)
	}
	if _, err := decodeConfChange([]byte{op, 0x82, 0x00, 'n', '4'}); !errors.Is(err, ErrMembership) {
		t.Errorf("membership request with a padded length: err = %v, want ErrMembership", err)
	}
	for _, b := range [][]byte{
		{addrBookVersion, 0x81, 0x00, 0x02, 'n', '1', 0x01, 'a'}, // count
		{addrBookVersion, 0x01, 0x82, 0x00, 'n', '1', 0x01, 'a'}, // id length
		{addrBookVersion, 0x01, 0x02, 'n', '1', 0x81, 0x00, 'a'}, // address length
	} {
		if book, err := decodeAddrBook(b); !errors.Is(err, errAddrBookWire) {
			t.Errorf("address book %x: got %v, %v; want errAddrBookWire", b, book, err)
		}
	}
	if book, err := decodeAddrBook([]byte{addrBookVersion, 0x01, 0x02, 'n', '1', 0x01, 'a'}); err != nil || book["n1"] != "a" {
		t.Fatalf("canonical address book: %v, %v", book, err)
	}
	role := byte(engine.Leader)
	if s, err := decodePeerStatus([]byte{peerStatusVersion, role, 0x03, 0x01, 0x01, 0x01, 'n', '1'}); err != nil || s.Term != 3 {
		t.Fatalf("canonical peer status: %+v, %v", s, err)
	}
	if s, err := decodePeerStatus([]byte{peerStatusVersion, role, 0x83, 0x00, 0x01, 0x01, 0x01, 'n', '1'}); !errors.Is(err, errPeerStatusWire) {
		t.Errorf("peer status with a padded term: got %+v, %v; want errPeerStatusWire", s, err)
	}
}
