package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/yggrdb/yggr/internal/freeport"
)

// localNode is a `yggr serve` child process on loopback, for the demo (and
// the tests). Its methods are not safe for concurrent use.
type localNode struct {
	id       string
	dir      string
	httpAddr string // host:port
	raftAddr string // host:port
	exe      string
	args     []string // the serve flags
	logPath  string
	workDir  string // the child's working directory; "" means ours

	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited and been reaped
	exitErr error         // cmd.Wait's result; read only after done is closed
}

// newLocalNodes describes n nodes of a new cluster under root, on free
// loopback ports, secured by secret. It starts nothing.
func newLocalNodes(exe, root string, n int, secret string) ([]*localNode, error) {
	https, err := freeport.TCP(n)
	if err != nil {
		return nil, err
	}
	rafts, err := freeport.UDP(n)
	if err != nil {
		return nil, err
	}
	nodes := make([]*localNode, n)
	var peers []string
	for i := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		nodes[i] = &localNode{id: id, dir: filepath.Join(root, id), httpAddr: https[i], raftAddr: rafts[i],
			exe: exe, logPath: filepath.Join(root, id+".log")}
		peers = append(peers, id+"="+rafts[i])
	}
	for _, nd := range nodes {
		nd.args = []string{"serve", "--id", nd.id, "--dir", nd.dir, "--http-addr", nd.httpAddr,
			"--raft-addr", nd.raftAddr, "--peers", strings.Join(peers, ","), "--cluster-secret", secret,
			"--log-level", "warn"}
	}
	return nodes, nil
}

// childEnv is the environment for a child: the parent's without YGGR_
// variables, so that the flags alone configure it.
func childEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "YGGR_") {
			out = append(out, kv)
		}
	}
	return out
}

// start starts the process; its output is appended to logPath.
func (n *localNode) start() error {
	if n.running() {
		return fmt.Errorf("%s is already running", n.id)
	}
	logf, err := os.OpenFile(n.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(n.exe, n.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = childEnv()
	cmd.Dir = n.workDir
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	n.cmd, n.done = cmd, make(chan struct{})
	done := n.done
	// Owned by the localNode; ends when the process exits (kill and stop
	// make sure it does, with deadlines).
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.exitErr = err
		close(done)
	}()
	return nil
}

// running reports whether the process was started and has not exited.
func (n *localNode) running() bool {
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the running process.
func (n *localNode) signal(sig os.Signal) error {
	if !n.running() {
		return fmt.Errorf("%s is not running", n.id)
	}
	return n.cmd.Process.Signal(sig)
}

// kill SIGKILLs the process and waits (at most 10s) until it is reaped.
func (n *localNode) kill() error {
	if !n.running() {
		return nil
	}
	n.cmd.Process.Kill()
	select {
	case <-n.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s did not exit after SIGKILL", n.id)
	}
}

// stop asks the process to shut down (SIGTERM, and SIGCONT in case it is
// stopped), and kills it if it has not exited within grace.
func (n *localNode) stop(grace time.Duration) error {
	if !n.running() {
		return nil
	}
	err := n.cmd.Process.Signal(syscall.SIGTERM)
	resume(n.cmd.Process)
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return n.kill()
	}
	select {
	case <-n.done:
		return nil
	case <-time.After(grace):
		return n.kill()
	}
}

// logTail returns the last lines of the node's log, for error reports.
func (n *localNode) logTail(lines int) string {
	data, err := os.ReadFile(n.logPath)
	if err != nil {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
