package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/havenproject/haven/fsm"
)

// Config says how to reach the cluster and what session to hold.
type Config struct {
	// Endpoints are Haven (TCP) addresses of the cluster's nodes, host:port.
	// The client connects to one; it moves to another when that one fails.
	Endpoints []string
	// TTL is the session's time to live, clamped by the server to its
	// bounds. Zero asks for the server's default (5 s).
	TTL time.Duration
	// DialTimeout bounds each attempt to connect to one node (default 1 s).
	DialTimeout time.Duration
	// Ordered makes the client try Endpoints in the order given, starting
	// with the first; by default it starts at a random one, which spreads
	// many clients over the cluster.
	Ordered bool
	// Seen is the highest version this program saw in an earlier life, so
	// that stale reads are never older than it (PROTOCOL.md, "Reads"). The
	// client keeps it up to date by itself from then on.
	Seen uint64
	// Token, if set, resumes the session it names (its secret token, as
	// Token reports) instead of opening a new one: for example a session
	// another process holds. A token the cluster does not know gives
	// SessionExpired.
	Token string
	// Credentials, if set, go with every request (PROTOCOL.md: "Every
	// request may carry ... credentials").
	Credentials map[string]any
	// Logger receives reconnects and failovers at Info, details at Debug.
	// Nil: discard.
	Logger *slog.Logger
	// OnPing, if set, is called after every heartbeat ping of the session,
	// answered or failed, from the goroutine that pings (it must return
	// quickly): for tests that check the no-false-expiry rule, which needs
	// the send time of every ping answered OK (linearizability/history).
	OnPing func(Ping)
}

// Ping is one heartbeat ping as OnPing reports it. A ping is a long poll:
// the node may hold it up to a third of the ttl before answering.
type Ping struct {
	Address  string    // the node it was sent to
	Sent     time.Time // just before it was written to the connection
	Answered time.Time // when its answer or failure came
	// Err is nil for an answer OK; else the node's refusal (an *Error:
	// SessionExpired, Unavailable) or why no answer came.
	Err error
}

// Client holds one session on a Haven cluster over one connection at a
// time. It pings in the background, and when its node fails it reconnects
// to another, resumes the session with its token and registers its watches
// again from the last version each saw. All methods are safe to call from
// many goroutines; calls are pipelined on the connection.
type Client struct {
	cfg     Config
	log     *slog.Logger
	rid     atomic.Uint64
	seen    atomic.Uint64
	ctx     context.Context // canceled by Close or expiry: stops the manager
	cancel  context.CancelFunc
	closing atomic.Bool // Close sent `close`: the node's hang-up is expected

	mu        sync.Mutex
	cur       *conn         // the connection in use; nil while reconnecting
	changed   chan struct{} // closed (and replaced) whenever cur changes
	endpoints []string
	next      int // index into endpoints of the next node to try
	session   string
	token     string
	ttl       time.Duration
	node      string // id of the node we are connected to
	leader    string // leader's address, as that node said on connect
	watches   map[string]*Watch
	err       error         // terminal: ErrClosed or SessionExpired
	done      chan struct{} // closed once err is set
	failovers int
}

// Connect opens a session on the cluster and returns once it is open. ctx
// bounds the connection attempts.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errorf(fsm.InvalidParameter, "connect", "no endpoints")
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:       cfg,
		log:       log,
		changed:   make(chan struct{}),
		endpoints: distinct(cfg.Endpoints),
		watches:   make(map[string]*Watch),
		done:      make(chan struct{}),
	}
	c.seen.Store(cfg.Seen)
	c.token = cfg.Token
	if !cfg.Ordered {
		c.next = rand.IntN(len(c.endpoints))
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())

	var lastErr error
	backoff := 20 * time.Millisecond
	removed := removedNodes{}
	for attempt := 0; ; attempt++ {
		if addr := c.pick(); !removed[addr] {
			cn, err := c.open(ctx, addr)
			if err == nil {
				c.mu.Lock()
				c.cur = cn
				c.mu.Unlock()
				go c.run(cn)
				go c.learnMembers()
				return c, nil
			}
			lastErr = err
			var herr *Error
			if errors.As(err, &herr) && herr.Code != fsm.Unavailable && herr.Code != fsm.InternalError {
				c.cancel()
				return nil, err // the node refused us for a reason another node shares
			}
			if removed.note(c, addr, err) {
				c.cancel()
				return nil, err
			}
			c.log.Debug("haven: connect failed", "address", addr, "err", err)
		}
		if (attempt+1)%len(c.endpoints) == 0 {
			select {
			case <-ctx.Done():
				c.cancel()
				return nil, &Error{Code: fsm.Unavailable, Op: "connect", Message: fmt.Sprintf("no node answered: %v", lastErr), cause: ctx.Err()}
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 500*time.Millisecond)
		}
		if ctx.Err() != nil {
			c.cancel()
			return nil, &Error{Code: fsm.Unavailable, Op: "connect", Message: fmt.Sprintf("no node answered: %v", lastErr), cause: ctx.Err()}
		}
	}
}

// distinct returns the addresses in the order given, each once: a node
// named twice would otherwise keep the client from seeing that every
// endpoint refused it for good.
func distinct(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// removedNodes are the endpoints that answered, in one round of attempts
// (a Connect, a failover), that they were removed from the cluster. That
// holds for good: such a node answers nothing else until it is added back
// under a new id, which the same address may later serve, so a round
// forgets them when it ends.
type removedNodes map[string]bool

// note records addr if err is a removed node's answer, and reports whether
// every endpoint of c has now said so (learnMembers may have added some).
func (r removedNodes) note(c *Client, addr string, err error) (all bool) {
	if !isRemovedNode(err) {
		return false
	}
	r[addr] = true
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(r) >= len(c.endpoints)
}

// pick returns the next endpoint to try, round robin.
func (c *Client) pick() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	addr := c.endpoints[c.next%len(c.endpoints)]
	c.next = (c.next + 1) % len(c.endpoints)
	return addr
}

// open dials addr and sends connect: a new session, or the resumption of
// ours if we hold a token.
func (c *Client) open(ctx context.Context, addr string) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	cn, err := dial(dctx, addr)
	if err != nil {
		return nil, &Error{Code: fsm.Unavailable, Op: "connect", Node: addr, Message: err.Error(), cause: err}
	}
	c.mu.Lock()
	token := c.token
	c.mu.Unlock()
	req := newRequest("connect").set("version", "1")
	if c.cfg.TTL > 0 {
		req.set("ttl_ms", uint64(c.cfg.TTL/time.Millisecond))
	}
	if token != "" {
		req.set("session", token)
	}
	if seen := c.seen.Load(); seen > 0 {
		req.set("seen", seen)
	}
	c.addCredentials(req)
	// Resuming may wait for the node to apply through `seen`; allow it a
	// little more than dialing.
	cctx, cancel2 := context.WithTimeout(ctx, 2*c.cfg.DialTimeout+2*time.Second)
	defer cancel2()
	a, _, err := cn.call(cctx, c.rid.Add(1), req)
	if err != nil {
		cn.close(err)
		return nil, &Error{Code: fsm.Unavailable, Op: "connect", Node: addr, Message: err.Error(), cause: err}
	}
	if err := answerError(a, "connect", addr); err != nil {
		cn.close(err)
		return nil, err
	}
	c.mu.Lock()
	c.session, c.token = a.Session, a.Token
	if a.Token == "" {
		c.token = token
	}
	c.ttl = time.Duration(a.TTLms) * time.Millisecond
	if c.ttl <= 0 {
		c.ttl = 5 * time.Second
	}
	c.node, c.leader = a.Node, a.Leader
	c.mu.Unlock()
	c.log.Debug("haven: connected", "address", addr, "node", a.Node, "session", a.Session, "resumed", token != "")
	return cn, nil
}

func (c *Client) addCredentials(req *request) {
	if c.cfg.Credentials != nil {
		req.set("credentials", c.cfg.Credentials)
	}
}

// learnMembers adds the cluster's other addresses to the pool, so that a
// client given one endpoint can still fail over.
func (c *Client) learnMembers() {
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	_, all, err := c.DiscoverLocations(ctx)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, addr := range all {
		if addr != "" && !slices.Contains(c.endpoints, addr) {
			c.endpoints = append(c.endpoints, addr)
		}
	}
}

// run is the manager: it pings on the current connection and, when that
// fails, finds another node and resumes the session there.
func (c *Client) run(cn *conn) {
	for {
		err := c.heartbeat(cn)
		// Calls still waiting on cn learn that their answer is lost: a
		// write among them may have been applied, so it is not sent again.
		cn.close(fmt.Errorf("%w: %v", errConnLost, err))
		c.mu.Lock()
		if c.cur == cn {
			c.cur = nil
			close(c.changed)
			c.changed = make(chan struct{})
		}
		c.mu.Unlock()
		if c.ctx.Err() != nil || c.closing.Load() {
			return
		}
		c.log.Info("haven: connection lost; failing over", "address", cn.addr, "err", err)
		next, err := c.reconnect()
		if err != nil {
			c.fail(err)
			return
		}
		cn = next
	}
}

// heartbeat long-polls on cn until cn must be given up, and hands the events
// to the watches. It returns why.
func (c *Client) heartbeat(cn *conn) error {
	lastOK := time.Now() // the connect (or resume) was answered just now
	for {
		c.mu.Lock()
		ttl := c.ttl
		c.mu.Unlock()
		// PROTOCOL.md: clients ping at about ttl/3; the node holds the
		// ping up to wait_ms when no event is pending.
		wait := ttl / 3
		ctx, cancel := context.WithTimeout(c.ctx, wait+ttl/3)
		req := newRequest("heartbeat").set("type", "ping").set("wait_ms", uint64(wait/time.Millisecond))
		c.addCredentials(req)
		sent := time.Now()
		a, _, err := cn.call(ctx, c.rid.Add(1), req)
		cancel()
		if c.cfg.OnPing != nil {
			p := Ping{Address: cn.addr, Sent: sent, Answered: time.Now(), Err: err}
			if err == nil {
				p.Err = answerError(a, "heartbeat", cn.addr)
			}
			c.cfg.OnPing(p)
		}
		if err != nil {
			if c.ctx.Err() != nil {
				return ErrClosed
			}
			return fmt.Errorf("heartbeat: %w", err)
		}
		if err := answerError(a, "heartbeat", cn.addr); err != nil {
			if CodeOf(err) == fsm.SessionExpired {
				c.fail(err)
				return err
			}
			// Unavailable: this node could not have the leader vouch for
			// the session in time (no leader yet, or a new one still
			// renewing sessions). Ask it again while half the ttl is left;
			// then move, before the ttl runs out (as a ZooKeeper client
			// leaves a server that lost its quorum).
			if time.Since(lastOK) < ttl/2 {
				select {
				case <-time.After(min(ttl/20, 100*time.Millisecond)):
					continue
				case <-cn.done:
					return fmt.Errorf("heartbeat: %w", errConnLost)
				case <-c.ctx.Done():
					return ErrClosed
				}
			}
			return err
		}
		lastOK = time.Now()
		for _, ev := range a.events {
			c.observe(ev.Version)
			c.mu.Lock()
			w := c.watches[ev.Path]
			c.mu.Unlock()
			if w != nil {
				w.deliver(ev)
			}
		}
	}
}

// reconnect tries the other nodes until one resumes the session. It
// passes over the nodes that answer that they were removed from the
// cluster, as Connect does (removedNodes), and fails when every one does.
func (c *Client) reconnect() (*conn, error) {
	backoff := 10 * time.Millisecond
	c.mu.Lock()
	n := len(c.endpoints)
	c.mu.Unlock()
	removed := removedNodes{}
	for attempt := 1; ; attempt++ {
		if c.ctx.Err() != nil {
			return nil, ErrClosed
		}
		if addr := c.pick(); !removed[addr] {
			cn, err := c.open(c.ctx, addr)
			if err == nil {
				if err = c.rewatch(cn); err == nil {
					c.mu.Lock()
					c.failovers++
					c.mu.Unlock()
					c.log.Info("haven: session resumed", "address", addr)
					return cn, nil
				}
				cn.close(err)
			}
			if CodeOf(err) == fsm.SessionExpired || CodeOf(err) == fsm.Forbidden {
				return nil, err
			}
			if removed.note(c, addr, err) {
				return nil, err
			}
			c.log.Debug("haven: resume failed", "address", addr, "err", err)
		}
		if attempt%n == 0 {
			select {
			case <-c.ctx.Done():
				return nil, ErrClosed
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 300*time.Millisecond)
		}
	}
}

// rewatch registers every watch again on cn with since = the last version
// it saw, then publishes cn as the current connection. A watch that Watch
// registers meanwhile is picked up by the next round.
func (c *Client) rewatch(cn *conn) error {
	for {
		c.mu.Lock()
		var todo []*Watch
		for _, w := range c.watches {
			if w.registered && w.conn != cn {
				todo = append(todo, w)
			}
		}
		if len(todo) == 0 {
			c.cur = cn
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		sort.Slice(todo, func(i, j int) bool { return todo[i].path < todo[j].path })
		for _, w := range todo {
			if err := c.registerOn(cn, w); err != nil {
				return err
			}
		}
	}
}

// registerOn sends w's watch on cn from w's last version.
func (c *Client) registerOn(cn *conn, w *Watch) error {
	since := w.lastVersion()
	req := newRequest("query").set("type", "watch").set("path", w.path).set("since", since)
	c.addCredentials(req)
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	a, _, err := cn.call(ctx, c.rid.Add(1), req)
	if err != nil {
		return err
	}
	if err := answerError(a, "watch", cn.addr); err != nil {
		return err
	}
	c.observeAnswer(a)
	if a.Reset {
		w.reset(a.Items, a.Version)
	}
	c.mu.Lock()
	w.conn = cn
	c.mu.Unlock()
	return nil
}

// fail ends the client for good with err (expiry), waking everyone.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	cn := c.cur
	c.cur = nil
	watches := c.watches
	c.watches = map[string]*Watch{}
	close(c.done)
	c.mu.Unlock()
	c.cancel()
	if cn != nil {
		cn.close(err)
	}
	for _, w := range watches {
		w.end(err)
	}
}

// Done is closed when the session has ended: closed by Close, or expired.
// Err then says which.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is nil while the session lives, then ErrClosed or the SessionExpired
// *Error that ended it.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// SessionID is the session's public id, which the node puts in the owner
// field of its items.
func (c *Client) SessionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// TTL is the session's ttl as the server granted it.
func (c *Client) TTL() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ttl
}

// Node is the id of the node the client is connected to, and its address.
func (c *Client) Node() (id, address string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil {
		address = c.cur.addr
	}
	return c.node, address
}

// Leader is the leader's address as the node said when the client
// connected (it may have changed since; Discover asks afresh).
func (c *Client) Leader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

// Failovers counts how many times the session moved to a new connection.
func (c *Client) Failovers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failovers
}

// Seen is the highest version this client has seen (item versions, list
// versions, events). Give it as Config.Seen to a later client.
func (c *Client) Seen() uint64 { return c.seen.Load() }

func (c *Client) observe(v uint64) {
	for {
		cur := c.seen.Load()
		if v <= cur || c.seen.CompareAndSwap(cur, v) {
			return
		}
	}
}

func (c *Client) observeAnswer(a *answer) {
	c.observe(a.Version)
	if a.Item != nil {
		c.observe(a.Item.Modified)
	}
}

// current waits for a live connection.
func (c *Client) current(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return nil, err
		}
		cn, changed := c.cur, c.changed
		c.mu.Unlock()
		if cn != nil {
			select {
			case <-cn.done:
			default:
				return cn, nil
			}
		}
		select {
		case <-changed:
		case <-c.done:
		case <-ctx.Done():
			return nil, &Error{Code: fsm.Unavailable, Message: "no connection to the cluster in time: " + ctx.Err().Error(), cause: ctx.Err()}
		case <-time.After(50 * time.Millisecond): // cn died; the manager is on it
		}
	}
}

// do sends req and waits for its answer, across reconnects. A request that
// never reached a node is sent again on the next connection; one that did
// is sent again only if retry says it is safe (reads, watches), since a
// write may have been applied before the connection broke. Unavailable
// answers to safe requests are retried too, until ctx ends.
func (c *Client) do(ctx context.Context, req *request, retry bool) (*answer, *conn, error) {
	op := actionOf(req)
	c.addCredentials(req)
	backoff := 10 * time.Millisecond
	for {
		cn, err := c.current(ctx)
		if err != nil {
			if herr, ok := err.(*Error); ok && herr.Op == "" {
				herr.Op = op
			}
			return nil, nil, err
		}
		a, sent, err := cn.call(ctx, c.rid.Add(1), req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, &Error{Code: fsm.Unavailable, Op: op, Node: cn.addr, Message: "no answer in time: " + ctx.Err().Error(), cause: ctx.Err()}
			}
			if errors.Is(err, errConnLost) || err == nil {
				if !sent || retry {
					continue
				}
				return nil, nil, &Error{Code: fsm.Unavailable, Op: op, Node: cn.addr, Message: "connection lost before the answer; the write may have been applied", cause: err}
			}
			if c.Err() != nil {
				return nil, nil, c.Err()
			}
			return nil, nil, err // not a lost connection: encoding, ...
		}
		if err := answerError(a, op, cn.addr); err != nil {
			if retry && CodeOf(err) == fsm.Unavailable {
				select {
				case <-ctx.Done():
					return nil, nil, err
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 200*time.Millisecond)
				continue
			}
			return nil, nil, err
		}
		c.observeAnswer(a)
		return a, cn, nil
	}
}

// Token is the session's secret: whoever presents it is the session
// (Config.Token resumes it elsewhere). Keep it private.
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// Abandon drops the connection without ending the session: its items live
// on until its ttl runs out, or until another client resumes it with Token.
func (c *Client) Abandon() { c.fail(ErrClosed) }

// Close ends the session at once (its items are removed) and the
// connection. If the node fails meanwhile, Close resumes the session on
// another node to close it there, until ctx ends. It is safe to call more
// than once.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil
	}
	cn := c.cur
	c.mu.Unlock()
	c.closing.Store(true) // the manager no longer fails over
	defer c.fail(ErrClosed)
	var opened []*conn
	defer func() {
		for _, o := range opened {
			o.close(ErrClosed)
		}
	}()
	var lastErr error
	backoff := 10 * time.Millisecond
	for {
		if cn == nil || isDone(cn) {
			var err error
			cn, err = c.open(ctx, c.pick())
			if CodeOf(err) == fsm.SessionExpired {
				return nil // already ended
			}
			if err != nil {
				lastErr, cn = err, nil
			} else {
				opened = append(opened, cn)
			}
		}
		if cn != nil {
			a, _, err := cn.call(ctx, c.rid.Add(1), newRequest("close"))
			if err == nil {
				err = answerError(a, "close", cn.addr)
				if err == nil || CodeOf(err) == fsm.SessionExpired {
					return nil
				}
				if CodeOf(err) != fsm.Unavailable {
					return err
				}
			}
			lastErr, cn = err, nil
		}
		select {
		case <-ctx.Done():
			return &Error{Code: fsm.Unavailable, Op: "close", Message: fmt.Sprintf("session not closed in time: %v", lastErr), cause: ctx.Err()}
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 200*time.Millisecond)
	}
}

func isDone(cn *conn) bool {
	select {
	case <-cn.done:
		return true
	default:
		return false
	}
}
