package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// etcdMaxFrame bounds an incoming frame before allocation (MaxSizePerMsg
// is 1 MiB; a single large entry may exceed it).
const etcdMaxFrame = 64 << 20

var errFrameTooLarge = errors.New("bench: etcd transport: frame too large")

// etcdTransport carries raftpb.Messages between the harness's etcd nodes
// over loopback TCP: one outbound connection per peer, each frame a u32
// big-endian length followed by the protobuf encoding of one message.
type etcdTransport struct {
	ln          net.Listener
	recv        func(*pb.Message) bool // false: the node stopped, drop the connection
	unreachable func(id uint64)        // must not block
	peers       map[uint64]*etcdPeer
	closed      chan struct{}
	wg          sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{} // inbound and outbound, closed by close
	done  bool
}

// etcdPeer is the outbound queue to one peer, drained by one writer.
type etcdPeer struct {
	id   uint64
	addr string
	q    chan *pb.Message
}

// newEtcdTransport starts accepting on ln and one writer per peer.
func newEtcdTransport(ln net.Listener, peers map[uint64]string, recv func(*pb.Message) bool, unreachable func(uint64)) *etcdTransport {
	t := &etcdTransport{ln: ln, recv: recv, unreachable: unreachable, peers: map[uint64]*etcdPeer{},
		closed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	for id, addr := range peers {
		p := &etcdPeer{id: id, addr: addr, q: make(chan *pb.Message, 4096)}
		t.peers[id] = p
		t.wg.Add(1)
		// Owned by the transport; ends when close closes t.closed.
		go t.writer(p)
	}
	t.wg.Add(1)
	// Owned by the transport; ends when close closes the listener.
	go t.accept()
	return t
}

// track registers c so that close can interrupt its reads and writes; it
// returns false (and closes c) if the transport is already closed.
func (t *etcdTransport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		c.Close()
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *etcdTransport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	c.Close()
}

// send queues msgs; a full queue or an unknown peer drops the message and
// reports the peer unreachable (raft retransmits).
func (t *etcdTransport) send(msgs []*pb.Message) {
	for _, m := range msgs {
		p := t.peers[m.GetTo()]
		if p == nil {
			continue
		}
		select {
		case p.q <- m:
		default:
			t.unreachable(p.id)
		}
	}
}

func (t *etcdTransport) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		if !t.track(c) {
			continue
		}
		t.wg.Add(1)
		// Owned by the transport; ends at EOF, on a bad frame, or when close
		// closes the connection.
		go t.serve(c)
	}
}

func (t *etcdTransport) serve(c net.Conn) {
	defer t.wg.Done()
	defer t.untrack(c)
	br := bufio.NewReaderSize(c, 64<<10)
	var buf []byte
	for {
		m, err := readFrame(br, &buf)
		if err != nil || !t.recv(m) {
			return
		}
	}
}

// readFrame reads one length-prefixed message; *buf is reused between calls
// (protobuf's Unmarshal copies what it keeps).
func readFrame(r io.Reader, buf *[]byte) (*pb.Message, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > etcdMaxFrame {
		return nil, fmt.Errorf("%w: %d bytes", errFrameTooLarge, n)
	}
	if cap(*buf) < int(n) {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	m := &pb.Message{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("bench: etcd transport: %w", err)
	}
	return m, nil
}

// appendFrame appends the frame of m to b.
func appendFrame(b []byte, m *pb.Message) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		return b[:start], err
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b, nil
}

// writer sends p's queue on one connection, dialled lazily; it writes
// everything queued, then flushes. A failed dial or write drops the
// message(s) and reports the peer unreachable, and the next message dials
// again.
func (t *etcdTransport) writer(p *etcdPeer) {
	defer t.wg.Done()
	var conn net.Conn
	var buf []byte
	drop := func() {
		if conn != nil {
			t.untrack(conn)
			conn = nil
		}
		t.unreachable(p.id)
	}
	defer func() {
		if conn != nil {
			t.untrack(conn)
		}
	}()
	for {
		var m *pb.Message
		select {
		case <-t.closed:
			return
		case m = <-p.q:
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond)
			if err != nil {
				drop()
				continue
			}
			if !t.track(c) {
				return
			}
			conn = c
		}
		buf = buf[:0]
		var err error
		// Batch what is queued, bounded so that one write stays moderate.
		for i := 0; ; i++ {
			if buf, err = appendFrame(buf, m); err != nil {
				break
			}
			if i == 1023 || len(buf) > 4<<20 {
				break
			}
			select {
			case m = <-p.q:
				continue
			default:
			}
			break
		}
		if err == nil {
			conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Write(buf)
		}
		if err != nil {
			drop()
		}
		if cap(buf) > 8<<20 {
			buf = nil
		}
	}
}

// close stops accepting, closes every connection and waits for every
// goroutine of the transport.
func (t *etcdTransport) close() error {
	close(t.closed)
	err := t.ln.Close()
	t.mu.Lock()
	t.done = true
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return err
}
