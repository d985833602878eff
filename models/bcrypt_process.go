package models

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// BcryptProcess runs bcrypt in a child process of this binary, started in a session of its own
// (setsid) at lower priority.
//
// Why a process: Linux's autogroup scheduler (on by default outside containers) first shares the
// CPU between sessions and honours thread niceness only inside one. bcrypt threads at niceness
// 10 inside the service's process make its whole session look busy, so while a login flood
// saturates the cores, the service's request threads wait behind Postgres backends, Redis and
// every other session as equals: /auth/me's p99 went from 0.8 to 5.4 ms on 2 cores. The same
// hashing in another session leaves it at 0.8 ms. In a container (a cgroup of its own, where
// autogroup does not apply) the child shares the pod's CPU quota and its threads' niceness
// does the ranking, as before.
//
// The parent keeps the admission control (Hasher's slots); the child only computes. If the
// child cannot be started or dies, an operation runs in this process on a low-priority thread
// instead, so a login never fails for it: isolation is lost until the next start, nothing else.
// A child that does not answer within the operation's deadline (stopped, or starved) is killed
// and replaced the same way, so it cannot hold the slots until a restart; and it dies with
// this process (Pdeathsig), so no hash outlives the service.
type BcryptProcess struct {
	opts     BcryptProcessOptions
	deadline func(cost int) time.Duration
	// spawn runs each child start on one OS thread that lives as long as p (see spawner).
	spawn chan<- func()

	mu        sync.Mutex
	child     *bcryptChild
	nextID    uint64
	lastStart time.Time // of the last attempt, to retry a failing start at most once a second
	closed    bool
}

// BcryptProcessOptions configures a BcryptProcess.
type BcryptProcessOptions struct {
	// Path and Args start the child, which must call ServeBcrypt on its stdin and stdout
	// (`authapi bcrypt-worker`).
	Path string
	Args []string
	// Name is the child's argv[0] (what ps shows); empty means Path.
	Name string
	// Env is the child's whole environment: it needs none of the service's settings or
	// secrets, so by default it gets nothing.
	Env []string
	// Nice is the niceness of the child's session and of its hashing threads (1..19).
	Nice int
	// OnEvent is told when a child starts, fails to start, is lost or is killed for missing a
	// deadline (BcryptChildStarted, …); it may be nil.
	OnEvent func(event string, pid int, err error)
	// Deadline is how long an operation at cost may wait for the child's answer before the
	// child is killed and the operation computed in this process; nil means BcryptDeadline.
	Deadline func(cost int) time.Duration
}

// The events BcryptProcessOptions.OnEvent is told of.
const (
	BcryptChildStarted     = "started"
	BcryptChildStartFailed = "start_failed"
	BcryptChildLost        = "lost"
	BcryptChildHung        = "hung"
)

// NewBcryptProcess returns a BcryptProcess; the child starts on first use. Close it.
func NewBcryptProcess(o BcryptProcessOptions) *BcryptProcess {
	deadline := o.Deadline
	if deadline == nil {
		deadline = BcryptDeadline
	}
	return &BcryptProcess{opts: o, deadline: deadline, spawn: spawner()}
}

// BcryptDeadline is the default deadline of one operation at cost: 20 times what a hash at that
// cost takes on this machine when it has a core to itself (measured once), and at least 2 s.
// The margin is for a child that yields to busier processes at its niceness (10 gets about a
// tenth of a contended core); past it, the child is presumed stopped or wedged. Cost 12 on
// the 2-core CI machine: a hash takes about 0.25 s, the deadline is about 5 s.
func BcryptDeadline(cost int) time.Duration {
	per := bcryptRound() * time.Duration(1<<min(max(cost, bcrypt.MinCost), bcrypt.MaxCost))
	return max(2*time.Second, 20*per)
}

// bcryptRound is the time of one of bcrypt's 2^cost key-schedule rounds here: the fastest of
// three hashes at cost 8 (about 17 ms), divided by 2^8. Measured once, at normal priority.
var bcryptRound = sync.OnceValue(func() time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 3 {
		start := time.Now()
		_, _ = bcrypt.GenerateFromPassword([]byte("calibrate"), 8)
		best = min(best, time.Since(start))
	}
	return best / (1 << 8)
})

// spawner returns a channel whose functions run on one goroutine locked to its OS thread until
// the channel is closed. Children are started there because Linux sends a child its
// Pdeathsig when the thread that forked it ends, not the process: the runtime ends threads
// (every one of onLowPriorityThread, for one), and a child forked from one of those would be
// killed while the service runs (golang/go#27505).
func spawner() chan<- func() {
	ch := make(chan func())
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		for fn := range ch {
			fn()
		}
	}()
	return ch
}

// errChildLost means the child ended, or was killed for missing its deadline, before answering;
// the caller computes in process instead.
var errChildLost = errors.New("bcrypt child process lost")

// Generate returns the bcrypt hash of password at cost.
func (p *BcryptProcess) Generate(password []byte, cost int) ([]byte, error) {
	r, err := p.call(bcryptOpGenerate, cost, password, nil)
	if err != nil {
		var hash []byte
		atLowPriority(p.opts.Nice, func() { hash, err = bcrypt.GenerateFromPassword(password, cost) })
		return hash, err
	}
	return r.data, r.err()
}

// Compare is bcrypt.CompareHashAndPassword, computed in the child.
func (p *BcryptProcess) Compare(hash, password []byte) error {
	r, err := p.call(bcryptOpCompare, 0, password, hash)
	if err != nil {
		atLowPriority(p.opts.Nice, func() { err = bcrypt.CompareHashAndPassword(hash, password) })
		return err
	}
	return r.err()
}

// Pid is the running child's process id, 0 if none runs.
func (p *BcryptProcess) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.child == nil {
		return 0
	}
	return p.child.cmd.Process.Pid
}

// Close ends the child (it exits when its stdin closes) and waits for it briefly.
func (p *BcryptProcess) Close() {
	p.mu.Lock()
	c, wasClosed := p.child, p.closed
	p.child, p.closed = nil, true
	p.mu.Unlock()
	if !wasClosed {
		// No start can follow (running checks closed under mu) nor be under way (it holds mu).
		close(p.spawn)
	}
	if c == nil {
		return
	}
	_ = c.stdin.Close()
	select {
	case <-c.gone:
	case <-time.After(2 * time.Second): // a hash in progress finishes well within this
		_ = c.cmd.Process.Kill()
		<-c.gone
	}
}

// call sends one operation to the child (starting it if needed) and waits for the answer. A
// field too large for a frame (only with BODY_LIMIT_BYTES raised above 1 MiB) is computed in
// this process instead: the child treats an oversized frame as a broken pipe and exits.
func (p *BcryptProcess) call(op byte, cost int, password, hash []byte) (bcryptReply, error) {
	if len(password) > maxBcryptField || len(hash) > maxBcryptField || cost < 0 || cost > bcrypt.MaxCost {
		return bcryptReply{}, errChildLost
	}
	c, id, err := p.running()
	if err != nil {
		return bcryptReply{}, err
	}
	reply := make(chan bcryptReply, 1)
	if !c.register(id, reply) {
		return bcryptReply{}, errChildLost
	}
	if err := c.send(id, op, cost, password, hash); err != nil {
		c.unregister(id)
		return bcryptReply{}, errChildLost
	}
	if op == bcryptOpCompare {
		cost, _ = bcrypt.Cost(hash) // an unreadable hash fails at once in the child: any deadline will do
	}
	deadline := time.NewTimer(p.deadline(cost))
	defer deadline.Stop()
	select {
	case r := <-reply:
		return r, nil
	case <-deadline.C:
		// Stopped (SIGSTOP, a debugger), wedged, or starved far past any normal wait: kill it.
		// Every operation waiting on it then sees it gone and computes in this process, and the
		// next one starts a new child.
		c.unregister(id)
		p.kill(c)
		return bcryptReply{}, errChildLost
	case <-c.gone:
		// The reader delivers every answer it read before marking the child gone.
		select {
		case r := <-reply:
			return r, nil
		default:
			return bcryptReply{}, errChildLost
		}
	}
}

// kill ends c, which missed a deadline, unless it is already gone or replaced.
func (p *BcryptProcess) kill(c *bcryptChild) {
	p.mu.Lock()
	if p.child == c {
		p.child = nil
		p.event(BcryptChildHung, c.cmd.Process.Pid, nil)
	}
	p.mu.Unlock()
	_ = c.cmd.Process.Kill() // SIGKILL ends a stopped process too; the reader reaps it
}

// running returns the live child, starting one if there is none (at most once a second after a
// failed start), and the id of the next operation.
func (p *BcryptProcess) running() (*bcryptChild, uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, 0, errChildLost
	}
	if p.child != nil && p.child.alive() {
		p.nextID++
		return p.child, p.nextID, nil
	}
	if p.child != nil {
		p.event(BcryptChildLost, p.child.cmd.Process.Pid, p.child.err)
		p.child = nil
	}
	if time.Since(p.lastStart) < time.Second {
		return nil, 0, errChildLost
	}
	p.lastStart = time.Now()
	var c *bcryptChild
	var err error
	started := make(chan struct{})
	p.spawn <- func() {
		defer close(started)
		c, err = startBcryptChild(p.opts)
	}
	<-started
	if err != nil {
		p.event(BcryptChildStartFailed, 0, err)
		return nil, 0, err
	}
	p.child = c
	p.event(BcryptChildStarted, c.cmd.Process.Pid, nil)
	p.nextID++
	return c, p.nextID, nil
}

func (p *BcryptProcess) event(msg string, pid int, err error) {
	if p.opts.OnEvent != nil {
		p.opts.OnEvent(msg, pid, err)
	}
}

// bcryptChild is one running child and the operations waiting for its answers.
type bcryptChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser

	writeMu sync.Mutex

	mu      sync.Mutex
	pending map[uint64]chan<- bcryptReply
	err     error         // why it ended, once gone is closed
	gone    chan struct{} // closed when its stdout ends (it exited or closed it)
}

func startBcryptChild(o BcryptProcessOptions) (*bcryptChild, error) {
	// The child lives as long as the BcryptProcess, not a request: no context ends it; Close
	// (stdin closed) does. The path is the service's own binary (os.Executable).
	cmd := exec.Command(o.Path, o.Args...) //nolint:gosec,noctx // see above
	if o.Name != "" {
		cmd.Args[0] = o.Name
	}
	cmd.Env = o.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	// A session of its own: its own autogroup, so its CPU use no longer counts against the
	// service's request threads (see BcryptProcess). stderr stays the service's, for a panic.
	cmd.SysProcAttr = childSysProcAttr()
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &bcryptChild{cmd: cmd, stdin: stdin, pending: map[uint64]chan<- bcryptReply{}, gone: make(chan struct{})}
	go c.read(stdout)
	return c, nil
}

func (c *bcryptChild) alive() bool {
	select {
	case <-c.gone:
		return false
	default:
		return true
	}
}

func (c *bcryptChild) register(id uint64, reply chan<- bcryptReply) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.alive() {
		return false
	}
	c.pending[id] = reply
	return true
}

func (c *bcryptChild) unregister(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

func (c *bcryptChild) send(id uint64, op byte, cost int, password, hash []byte) error {
	frame := appendBcryptRequest(nil, id, op, cost, password, hash)
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_, err := c.stdin.Write(frame)
	return err
}

// read delivers answers until the child's stdout ends, then reaps the child and marks it gone.
func (c *bcryptChild) read(stdout io.Reader) {
	r := bufio.NewReader(stdout)
	var err error
	for {
		var reply bcryptReply
		var id uint64
		if id, reply, err = readBcryptReply(r); err != nil {
			break
		}
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- reply
		}
	}
	waitErr := c.cmd.Wait()
	c.mu.Lock()
	c.err = fmt.Errorf("%w (wait: %w)", err, waitErr)
	close(c.gone)
	c.mu.Unlock()
}

// The wire format between the service and its child, both the same binary: little-endian
// frames on the child's stdin and stdout.
//
//	request: id u64 | op u8 | cost u8 | len u32 | password | len u32 | hash
//	reply:   id u64 | status u8 | len u32 | data (the hash, or an error message)
const (
	bcryptOpGenerate byte = 1
	bcryptOpCompare  byte = 2

	bcryptOK       byte = 0
	bcryptMismatch byte = 1
	bcryptFailed   byte = 2

	// maxBcryptField bounds what either side will read; the request body limit keeps real
	// passwords far below it.
	maxBcryptField = 1 << 20
)

type bcryptReply struct {
	status byte
	data   []byte
}

func (r bcryptReply) err() error {
	switch r.status {
	case bcryptOK:
		return nil
	case bcryptMismatch:
		return bcrypt.ErrMismatchedHashAndPassword
	}
	return errors.New(string(r.data))
}

// appendBcryptRequest appends a request frame; call has bounded cost and both lengths.
func appendBcryptRequest(b []byte, id uint64, op byte, cost int, password, hash []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, id)
	b = append(b, op, byte(cost))                                  //nolint:gosec // 0..bcrypt.MaxCost
	b = binary.LittleEndian.AppendUint32(b, uint32(len(password))) //nolint:gosec // ≤ maxBcryptField
	b = append(b, password...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(hash))) //nolint:gosec // ≤ maxBcryptField
	return append(b, hash...)
}

// appendBcryptReply appends a reply frame, the one readBcryptReply reads.
func appendBcryptReply(b []byte, id uint64, r bcryptReply) []byte {
	b = binary.LittleEndian.AppendUint64(b, id)
	b = append(b, r.status)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.data))) //nolint:gosec // a hash or an error message
	return append(b, r.data...)
}

func readBcryptReply(r *bufio.Reader) (uint64, bcryptReply, error) {
	var head [13]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, bcryptReply{}, err
	}
	data, err := readBcryptField(r, binary.LittleEndian.Uint32(head[9:]))
	return binary.LittleEndian.Uint64(head[:8]), bcryptReply{status: head[8], data: data}, err
}

func readBcryptField(r *bufio.Reader, n uint32) ([]byte, error) {
	if n > maxBcryptField {
		return nil, fmt.Errorf("bcrypt frame field of %d bytes", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

// ServeBcrypt is the child's side: it answers the requests read from in on out until in ends,
// as many at once as the parent sends (the parent's Hasher admits at most its concurrency).
// It first lowers the priority of every thread of this process (threads the runtime starts
// later inherit it) and of its whole session (autogroup): in a container, where autogroup does
// not apply, its threads yield to the service's; outside one, its session yields to the
// others. Nothing but bcrypt runs here, so unlike the in-process fallback no thread needs its
// priority back.
func ServeBcrypt(in io.Reader, out io.Writer, nice int) error {
	if err := lowerProcessPriority(nice); err != nil {
		return err
	}
	lowerSessionPriority(nice)
	r := bufio.NewReader(in)
	var writeMu sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		var head [10]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		id, op, cost := binary.LittleEndian.Uint64(head[:8]), head[8], head[9]
		password, err := readBcryptLenField(r)
		if err != nil {
			return err
		}
		hash, err := readBcryptLenField(r)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			reply := computeBcrypt(op, cost, password, hash)
			frame := appendBcryptReply(nil, id, reply)
			writeMu.Lock()
			defer writeMu.Unlock()
			_, _ = out.Write(frame) // a parent that has gone reads nothing more; in ends next
		}()
	}
}

func readBcryptLenField(r *bufio.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	return readBcryptField(r, binary.LittleEndian.Uint32(n[:]))
}

func computeBcrypt(op, cost byte, password, hash []byte) bcryptReply {
	var err error
	var data []byte
	switch op {
	case bcryptOpGenerate:
		data, err = bcrypt.GenerateFromPassword(password, int(cost))
	case bcryptOpCompare:
		err = bcrypt.CompareHashAndPassword(hash, password)
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return bcryptReply{status: bcryptMismatch}
		}
	default:
		err = fmt.Errorf("unknown bcrypt operation %d", op)
	}
	if err != nil {
		return bcryptReply{status: bcryptFailed, data: []byte(err.Error())}
	}
	return bcryptReply{status: bcryptOK, data: data}
}
