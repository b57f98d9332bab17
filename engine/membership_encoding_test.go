package engine

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yggrdb/yggr/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestMembershipEncodingGolden locks the bytes of a membership and of every
// kind of config entry: a change shows here as a reviewed diff.
func TestMembershipEncodingGolden(t *testing.T) {
	m := NewMembership(ids("n1 n2 n3"), ids("n4"))
	cases := []struct {
		name string
		b    []byte
	}{
		{"membership voters=(n1 n2 n3) learners=(n4)", AppendMembership(nil, m)},
		{"membership empty", AppendMembership(nil, Membership{})},
		{"config add-voter n4 127.0.0.1:7401", MarshalConfig(ConfChange{Op: ConfAddVoter, Node: "n4", Addr: "127.0.0.1:7401"}, NewMembership(ids("n1 n2 n3 n4"), nil))},
		{"config add-learner n4 127.0.0.1:7401", MarshalConfig(ConfChange{Op: ConfAddLearner, Node: "n4", Addr: "127.0.0.1:7401"}, m)},
		{"config promote n4", MarshalConfig(ConfChange{Op: ConfPromote, Node: "n4"}, NewMembership(ids("n1 n2 n3 n4"), nil))},
		{"config remove n1", MarshalConfig(ConfChange{Op: ConfRemove, Node: "n1"}, NewMembership(ids("n2 n3"), ids("n4")))},
	}
	var sb strings.Builder
	for _, c := range cases {
		fmt.Fprintf(&sb, "%s\n%s\n", c.name, hex.EncodeToString(c.b))
	}
	testutil.Golden(t, filepath.Join("testdata", "membership.golden"), []byte(sb.String()), *update)
}

func TestDecodeMembership(t *testing.T) {
	m := NewMembership(ids("n1 n2 n3"), ids("n4"))
	enc := AppendMembership([]byte{0xaa}, m)[1:] // appends after existing bytes
	got, n, err := DecodeMembership(append(enc, 0xee, 0xff))
	if err != nil || n != len(enc) || !got.Equal(m) {
		t.Fatalf("DecodeMembership = %v, %d, %v; want %v, %d, nil", got, n, err, m, len(enc))
	}
	empty, n, err := DecodeMembership([]byte{0, 0})
	if err != nil || n != 2 || !empty.Empty() || len(empty.Learners) != 0 {
		t.Fatalf("DecodeMembership(empty) = %v, %d, %v", empty, n, err)
	}
	bad := map[string][]byte{
		"nil":              nil,
		"no learners":      {0},
		"count over bytes": {3, 2, 'n', '1', 0},
		"unsorted":         append(appendIDs(nil, ids("n2 n1")), 0),
		"overlap":          appendIDs(appendIDs(nil, ids("n1")), ids("n1")),
		"truncated id":     {1, 5, 'n', '1'},
		"invalid id":       append(appendIDs(nil, []NodeID{"a b"}), 0),
		"padded count":     {0x80, 0x00, 0},
		"padded length":    {1, 0x82, 0x00, 'n', '1', 0},
	}
	bad["count over max"] = append(binary.AppendUvarint(nil, MaxMembers+1), make([]byte, 4*(MaxMembers+1))...)
	for name, b := range bad {
		if _, _, err := DecodeMembership(b); err == nil {
			t.Errorf("%s: DecodeMembership(%x) accepted", name, b)
		}
	}
	// The count is checked against the bytes left (two per ID at least)
	// before anything is read or allocated: two IDs cannot fit in three
	// bytes, although one does.
	if _, _, err := DecodeMembership([]byte{2, 2, 'n', '1'}); !errors.Is(err, errBadCount) {
		t.Errorf("two IDs in three bytes: %v, want errBadCount before reading them", err)
	}
}

// Validate enforces MaxMembers, so that every membership the engine
// accepts can be encoded and read back.
func TestValidateMaxMembers(t *testing.T) {
	var voters []NodeID
	for i := range MaxMembers + 1 {
		voters = append(voters, NodeID(fmt.Sprintf("n%05d", i)))
	}
	if err := NewMembership(voters[:MaxMembers], nil).Validate(); err != nil {
		t.Fatalf("Validate(%d voters) = %v", MaxMembers, err)
	}
	if err := NewMembership(voters, nil).Validate(); err == nil {
		t.Fatalf("Validate(%d voters) accepted", MaxMembers+1)
	}
	if err := (Membership{Voters: []NodeID{"a0"}, Learners: voters}).Validate(); err == nil {
		t.Fatalf("Validate(%d learners) accepted", MaxMembers+1)
	}
}

// appendMembershipV1 writes the v0.1 layout, as yggr v0.1 did (tests only:
// the layout is read, never written).
func appendMembershipV1(b []byte, m Membership) []byte {
	for _, list := range [][]NodeID{m.Voters, m.Learners} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(list)))
		for _, id := range list {
			b = append(append(b, byte(len(id))), id...)
		}
	}
	return b
}

func TestDecodeMembershipV1(t *testing.T) {
	m := NewMembership(ids("n1 n2 n3"), ids("n4"))
	enc := appendMembershipV1(nil, m)
	if got, want := hex.EncodeToString(enc), "0003026e31026e32026e330001026e34"; got != want {
		t.Fatalf("v1 layout = %s, want %s", got, want)
	}
	got, n, err := DecodeMembershipV1(append(enc, 0xee))
	if err != nil || n != len(enc) || !got.Equal(m) {
		t.Fatalf("DecodeMembershipV1 = %v, %d, %v; want %v, %d, nil", got, n, err, m, len(enc))
	}
	for _, bad := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"learner count missing", []byte{0, 0, 0}},
		{"count beyond the bytes", []byte{0, 2, 2, 'n', '1'}},
		{"count above MaxMembers", binary.BigEndian.AppendUint16(nil, MaxMembers+1)},
		{"id beyond the bytes", []byte{0, 1, 5, 'n', '1'}},
		{"last id missing", []byte{0, 2, 3, 'n', '1', '0'}},
		{"empty id", []byte{0, 1, 0, 0, 0, 0}},
		{"unsorted", []byte{0, 2, 2, 'n', '2', 2, 'n', '1', 0, 0}},
		{"voter and learner", []byte{0, 1, 2, 'n', '1', 0, 1, 2, 'n', '1'}},
	} {
		if _, _, err := DecodeMembershipV1(bad.b); err == nil {
			t.Errorf("%s: DecodeMembershipV1(%x) accepted", bad.name, bad.b)
		}
	}
}

// FuzzDecodeMembershipV1: no input panics, and what decodes is a valid
// membership that the v1 layout writes back to the same bytes.
func FuzzDecodeMembershipV1(f *testing.F) {
	f.Add(appendMembershipV1(nil, NewMembership(ids("n1 n2 n3"), ids("n4"))))
	f.Add([]byte{0, 2, 3, 'n', '1', '0'})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := DecodeMembershipV1(b)
		if err != nil {
			return
		}
		if verr := m.Validate(); verr != nil {
			t.Fatalf("decoded an invalid membership: %v", verr)
		}
		if got := appendMembershipV1(nil, m); string(got) != string(b[:n]) {
			t.Fatalf("%x decodes to %v, which re-encodes to %x", b[:n], m, got)
		}
	})
}

// The v0.1 reader's bounds, each at its edge: a count that exactly fills
// the bytes left, MaxMembers members, an ID of MaxNodeIDLen bytes, an ID
// that ends the input; and the error each refusal gives.
func TestDecodeMembershipV1Bounds(t *testing.T) {
	exact := []byte{0, 1, 1, 'a', 0, 1, 1, 'b'} // no byte after the last ID
	m, n, err := DecodeMembershipV1(exact)
	if err != nil || n != len(exact) || !m.Equal(NewMembership(ids("a"), ids("b"))) {
		t.Fatalf("DecodeMembershipV1(%x) = %v, %d, %v", exact, m, n, err)
	}
	var many []NodeID
	for i := range MaxMembers {
		many = append(many, NodeID(fmt.Sprintf("n%04d", i)))
	}
	full := appendMembershipV1(nil, NewMembership(many, nil))
	if m, n, err := DecodeMembershipV1(full); err != nil || n != len(full) || len(m.Voters) != MaxMembers {
		t.Fatalf("MaxMembers voters: %d voters, %d bytes, %v", len(m.Voters), n, err)
	}
	long := NodeID(strings.Repeat("x", MaxNodeIDLen))
	enc := appendMembershipV1(nil, NewMembership([]NodeID{long}, nil))
	if m, _, err := DecodeMembershipV1(enc); err != nil || m.Voters[0] != long {
		t.Fatalf("an ID of MaxNodeIDLen bytes: %v, %v", m, err)
	}
	for _, bad := range []struct {
		name string
		b    []byte
		want error
		msg  string
	}{
		{"count beyond the bytes", []byte{0, 2, 2, 'n', '1'}, errBadCount, "(count 2, 3 bytes)"},
		{"count above MaxMembers", binary.BigEndian.AppendUint16(nil, MaxMembers+1), errBadCount, ""},
		{"learner count missing", []byte{0, 0, 0}, errBadCount, "truncated"},
		{"id one byte short", []byte{0, 1, 2, 'n'}, errBadString, ""},
		{"id beyond the bytes", []byte{0, 1, 5, 'n', '1'}, errBadString, ""},
		{"id too long", append([]byte{0, 1, MaxNodeIDLen + 1}, strings.Repeat("x", MaxNodeIDLen+1)...), errBadString, ""},
	} {
		_, _, err := DecodeMembershipV1(bad.b)
		if !errors.Is(err, bad.want) || !strings.Contains(fmt.Sprint(err), bad.msg) {
			t.Errorf("%s: DecodeMembershipV1(%x) = %v, want %v mentioning %q", bad.name, bad.b, err, bad.want, bad.msg)
		}
	}
}

// UnmarshalConfig rejects data shorter than its two header bytes, and
// accepts the smallest valid entry.
func TestUnmarshalConfigShortest(t *testing.T) {
	for _, b := range [][]byte{nil, {configEntryVersion}} {
		if _, _, err := UnmarshalConfig(b); err == nil {
			t.Errorf("UnmarshalConfig(%v) accepted", b)
		}
	}
	m := NewMembership([]NodeID{"a"}, nil)
	if _, got, err := UnmarshalConfig(MarshalConfig(ConfChange{Op: ConfAddVoter, Node: "a"}, m)); err != nil || !got.Equal(m) {
		t.Errorf("round trip: %v %v", got, err)
	}
}
