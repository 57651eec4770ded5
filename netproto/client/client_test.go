package client

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func connectFake(t *testing.T, f *fakeCluster, endpoints ...string) *Client {
	t.Helper()
	if len(endpoints) == 0 {
		endpoints = f.addrs()
	}
	c, err := Connect(testCtx(t), Config{Endpoints: endpoints, Ordered: true, DialTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func TestPushGetUpdateDelete(t *testing.T) {
	f := newFakeCluster(t, 1)
	c := connectFake(t, f)
	ctx := testCtx(t)

	w, err := c.Push(ctx, "/data/a", map[string]any{"name": "x", "n": 3})
	require.NoError(t, err)
	require.Equal(t, c.SessionID(), w.Item.Owner)
	require.Equal(t, w.Item.Version, w.Version)
	var v struct {
		Name string `msgpack:"name"`
		N    int    `msgpack:"n"`
	}
	require.NoError(t, w.Item.Decode(&v))
	require.Equal(t, "x", v.Name)
	require.Equal(t, 3, v.N)

	list, err := c.Get(ctx, "/data/a")
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	require.GreaterOrEqual(t, c.Seen(), w.Item.Version)

	up, err := c.Update(ctx, "/data/a", w.Item.Version, "y", IfVersion(list.Version))
	require.NoError(t, err)
	require.Greater(t, up.Item.Modified, up.Item.Version)

	_, err = c.Update(ctx, "/data/a", w.Item.Version, "z", IfVersion(list.Version))
	var herr *Error
	require.ErrorAs(t, err, &herr)
	require.Equal(t, fsm.Conflict, herr.Code)
	require.ErrorIs(t, err, ErrConflict)
	require.NotErrorIs(t, err, ErrNotFound)

	other := connectFake(t, f)
	_, err = other.Delete(ctx, "/data/a", w.Item.Version)
	require.Equal(t, fsm.Forbidden, CodeOf(err))

	_, err = c.Delete(ctx, "/data/a", 999999)
	require.Equal(t, fsm.NotFound, CodeOf(err))

	left, err := c.Delete(ctx, "/data/a", w.Item.Version)
	require.NoError(t, err)
	require.Empty(t, left.Items)
}

// Answers come in the order the node finishes them, not the order asked:
// a fast read must not wait behind a slow one on the same connection.
func TestPipelinedAnswersOutOfOrder(t *testing.T) {
	f := newFakeCluster(t, 1)
	f.slowPath, f.slowDelay = "/data/slow", 300*time.Millisecond
	c := connectFake(t, f)
	ctx := testCtx(t)
	_, err := c.Push(ctx, "/data/fast", 1)
	require.NoError(t, err)

	slowDone := make(chan time.Time, 1)
	go func() {
		_, err := c.Get(ctx, "/data/slow")
		require.NoError(t, err)
		slowDone <- time.Now()
	}()
	time.Sleep(20 * time.Millisecond) // the slow read goes out first
	list, err := c.Get(ctx, "/data/fast")
	fastAt := time.Now()
	require.NoError(t, err)
	require.Len(t, list.Items, 1, "the fast read got the fast answer")
	require.True(t, fastAt.Before(<-slowDone), "the fast answer overtook the slow one")
}

func TestWatchDeliversEventsInOrder(t *testing.T) {
	f := newFakeCluster(t, 1)
	c := connectFake(t, f)
	writer := connectFake(t, f)
	ctx := testCtx(t)
	w, err := c.Watch(ctx, "/data/w")
	require.NoError(t, err)
	var want []uint64
	for i := 0; i < 20; i++ {
		wr, err := writer.Push(ctx, "/data/w", i)
		require.NoError(t, err)
		want = append(want, wr.Item.Version)
	}
	require.Equal(t, want, collect(t, w, len(want)))
}

func collect(t *testing.T, w *Watch, n int) []uint64 {
	t.Helper()
	var got []uint64
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case ev, ok := <-w.Events():
			require.True(t, ok, "watch ended: %v", w.Err())
			got = append(got, ev.Version)
		case <-timeout:
			t.Fatalf("only %d of %d events", len(got), n)
		}
	}
	return got
}

// The watcher's node dies; the client resumes the same session on another
// node and registers the watch again from the last version it saw, so the
// stream has no gap and no duplicate.
func TestFailoverResumesSessionAndWatch(t *testing.T) {
	f := newFakeCluster(t, 3)
	c := connectFake(t, f) // ordered: on n1
	writer := connectFake(t, f, f.addrs()[2])
	ctx := testCtx(t)
	mine, err := c.Push(ctx, "/data/f", "mine")
	require.NoError(t, err)
	w, err := c.Watch(ctx, "/data/f")
	require.NoError(t, err)
	session := c.SessionID()

	var want []uint64
	push := func(n int) {
		for i := 0; i < n; i++ {
			wr, err := writer.Push(ctx, "/data/f", i)
			require.NoError(t, err)
			want = append(want, wr.Item.Version)
		}
	}
	push(5)
	require.Equal(t, want, collect(t, w, 5))
	_, addr := c.Node()
	f.kill(f.nodeOf(addr))
	push(5) // while the watcher is away
	got := collect(t, w, 5)
	require.Equal(t, want[5:], got)
	push(3)
	require.Equal(t, want[10:], collect(t, w, 3))

	require.Equal(t, session, c.SessionID(), "the session was resumed, not replaced")
	require.Equal(t, 1, c.Failovers())
	_, now := c.Node()
	require.NotEqual(t, addr, now)
	list, err := c.Get(ctx, "/data/f")
	require.NoError(t, err)
	require.Equal(t, mine.Item.Version, list.Items[0].Version, "the session's item survived")
	select {
	case ev := <-w.Events():
		t.Fatalf("duplicate or extra event %+v", ev)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestResumeWithoutHistoryGivesReset(t *testing.T) {
	f := newFakeCluster(t, 2)
	c := connectFake(t, f)
	writer := connectFake(t, f, f.addrs()[1])
	ctx := testCtx(t)
	w, err := c.Watch(ctx, "/data/r")
	require.NoError(t, err)
	f.mu.Lock()
	f.forgetHist = true
	f.mu.Unlock()
	f.kill(f.nodes[0])
	wr, err := writer.Push(ctx, "/data/r", "x")
	require.NoError(t, err)
	// The reset comes first; the push is in its items or follows it,
	// depending on whether the client re-registered before the push.
	var ev Event
	select {
	case ev = <-w.Events():
	case <-time.After(10 * time.Second):
		t.Fatal("no reset event")
	}
	require.Equal(t, KindReset, ev.Kind)
	if len(ev.Items) == 0 {
		select {
		case ev = <-w.Events():
		case <-time.After(10 * time.Second):
			t.Fatal("no push after the reset")
		}
		require.Equal(t, KindPush, ev.Kind)
		require.Equal(t, wr.Item.Version, ev.Item.Version)
		return
	}
	require.Len(t, ev.Items, 1)
	require.Equal(t, wr.Item.Version, ev.Items[0].Version)
}

func TestSessionExpiryEndsClientAndWatches(t *testing.T) {
	f := newFakeCluster(t, 1)
	c := connectFake(t, f)
	ctx := testCtx(t)
	w, err := c.Watch(ctx, "/data/x")
	require.NoError(t, err)
	f.mu.Lock()
	clear(f.sess)
	f.mu.Unlock()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("client did not notice expiry")
	}
	require.Equal(t, fsm.SessionExpired, CodeOf(c.Err()))
	_, ok := <-w.Events()
	require.False(t, ok)
	require.Equal(t, fsm.SessionExpired, CodeOf(w.Err()))
	_, err = c.Push(ctx, "/data/x", 1)
	require.Equal(t, fsm.SessionExpired, CodeOf(err))
}

func TestCloseRemovesItemsForWatchers(t *testing.T) {
	f := newFakeCluster(t, 1)
	watcher := connectFake(t, f)
	c := connectFake(t, f)
	ctx := testCtx(t)
	wr, err := c.Push(ctx, "/data/c", "x")
	require.NoError(t, err)
	w, err := watcher.Watch(ctx, "/data/c")
	require.NoError(t, err)
	require.NoError(t, c.Close(ctx))
	ev := <-w.Events()
	require.Equal(t, KindDelete, ev.Kind)
	require.Equal(t, wr.Item.Version, ev.Item.Version)
	_, err = c.Get(ctx, "/data/c")
	require.ErrorIs(t, err, ErrClosed)
}

func TestConnectFailsOverDeadEndpoints(t *testing.T) {
	f := newFakeCluster(t, 2)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := dead.Addr().String()
	require.NoError(t, dead.Close())
	c := connectFake(t, f, deadAddr, f.addrs()[1])
	_, addr := c.Node()
	require.Equal(t, f.addrs()[1], addr)

	_, err = Connect(testCtx(t), Config{Endpoints: nil})
	require.Equal(t, fsm.InvalidParameter, CodeOf(err))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Connect(ctx, Config{Endpoints: []string{deadAddr}})
	require.Equal(t, fsm.Unavailable, CodeOf(err))
}

// A node that was removed from the cluster answers every connect
// Unavailable, for good: the client passes over it, and if it names no
// other node, says so at once instead of retrying it until its deadline
// (found by hand: `haven --endpoints <removed node> get` took 10 s).
func TestConnectPassesOverARemovedNode(t *testing.T) {
	f := newFakeCluster(t, 2)
	f.nodes[0].setRemoved()
	c := connectFake(t, f, f.addrs()...)
	_, addr := c.Node()
	require.Equal(t, f.addrs()[1], addr)

	began := time.Now()
	_, err := Connect(testCtx(t), Config{Endpoints: f.addrs()[:1]})
	require.Equal(t, fsm.Unavailable, CodeOf(err))
	require.Contains(t, err.Error(), "this node was removed from the cluster")
	require.Less(t, time.Since(began), 2*time.Second, "answered at once, not at the deadline")

	began = time.Now()
	a := f.addrs()[0]
	_, err = Connect(testCtx(t), Config{Endpoints: []string{a, a}})
	require.Equal(t, fsm.Unavailable, CodeOf(err), "an endpoint named twice is still one node")
	require.Less(t, time.Since(began), 2*time.Second, "answered at once, not at the deadline")
}

// A session whose node is removed resumes on a member, passing over the
// nodes that say they were removed; when every node says so, the client
// fails with that answer instead of trying for ever.
func TestResumePassesOverRemovedNodes(t *testing.T) {
	f := newFakeCluster(t, 3)
	c := connectFake(t, f) // ordered: on n1
	// Close would try the removed nodes for as long as its context lets it.
	t.Cleanup(func() { c.fail(ErrClosed) })
	ctx := testCtx(t)
	_, err := c.Push(ctx, "/data/r", "x")
	require.NoError(t, err)
	drop := func(n *fakeNode) {
		n.mu.Lock()
		defer n.mu.Unlock()
		for cn := range n.cs {
			_ = cn.nc.Close()
		}
	}
	f.nodes[0].setRemoved()
	f.nodes[1].setRemoved()
	drop(f.nodes[0])
	require.Eventually(t, func() bool {
		_, addr := c.Node()
		return addr == f.addrs()[2] && c.Failovers() == 1
	}, 5*time.Second, 10*time.Millisecond, "resumed on the one member")

	f.nodes[2].setRemoved()
	drop(f.nodes[2])
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the client kept trying nodes that all said they were removed")
	}
	_, err = c.Get(ctx, "/data/r")
	require.Equal(t, fsm.Unavailable, CodeOf(err))
	require.Contains(t, err.Error(), "this node was removed from the cluster")
}

// A server whose bytes are not MessagePack maps breaks the connection, and
// the pending call fails instead of hanging.
func TestGarbageAnswerFailsCall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 64)
		_, _ = nc.Read(buf)
		_, _ = nc.Write([]byte{0xc1, 0xc1, 0xc1}) // 0xc1 is never used in MessagePack
		time.Sleep(100 * time.Millisecond)
		_ = nc.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = Connect(ctx, Config{Endpoints: []string{ln.Addr().String()}})
	require.Error(t, err)
	require.Equal(t, fsm.Unavailable, CodeOf(err))
}

func TestRequestEncoding(t *testing.T) {
	req := newRequest("query").set("type", "create").set("path", "/data/a").set("data", msgpack.RawMessage{0xc0}).set("if_version", uint64(0))
	req.rid = 7
	b, err := msgpack.Marshal(req)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, msgpack.Unmarshal(b, &m))
	require.Equal(t, map[string]any{"action": "query", "type": "create", "path": "/data/a", "data": nil, "if_version": uint64(0), "rid": uint64(7)}, normalize(m))

	a := &answer{}
	raw, _ := msgpack.Marshal(map[string]any{"rid": 3, "action": "heartbeat", "type": "pong", "result": []any{map[string]any{"path": "/data/a", "version": 5, "kind": "push", "item": map[string]any{"version": 5, "modified": 5, "owner": "s1", "data": "x"}}}})
	require.NoError(t, msgpack.Unmarshal(raw, a))
	require.NoError(t, a.parseResult())
	require.True(t, a.ok)
	require.Equal(t, uint64(3), a.RID)
	require.Len(t, a.events, 1)
	v, err := a.events[0].Item.Value()
	require.NoError(t, err)
	require.Equal(t, "x", v)

	a = &answer{}
	raw, _ = msgpack.Marshal(map[string]any{"rid": "abc", "result": false, "error": map[string]any{"code": "TooLarge", "message": "big"}})
	require.Error(t, msgpack.Unmarshal(raw, a), "a string rid is not ours: the client only sends integers")
	a = &answer{}
	raw, _ = msgpack.Marshal(map[string]any{"rid": 4, "result": false, "error": map[string]any{"code": "TooLarge", "message": "big"}})
	require.NoError(t, msgpack.Unmarshal(raw, a))
	require.NoError(t, a.parseResult())
	err = answerError(a, "create", "n1")
	require.Equal(t, fsm.TooLarge, CodeOf(err))
	require.EqualError(t, err, "create: TooLarge: big")
}

func normalize(m map[string]any) map[string]any {
	for k, v := range m {
		if n, ok := toU64(v); ok {
			m[k] = n
		}
	}
	return m
}

func TestElectionAndLock(t *testing.T) {
	f := newFakeCluster(t, 1)
	ctx := testCtx(t)
	a := connectFake(t, f)
	b := connectFake(t, f)
	ea, eb := NewElection(a, "/data/e"), NewElection(b, "/data/e")
	tokA, err := ea.Campaign(ctx, "a")
	require.NoError(t, err)

	var tokB uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		tokB, err = eb.Campaign(ctx, "b")
		require.NoError(t, err)
	}()
	time.Sleep(100 * time.Millisecond)
	require.Zero(t, tokB, "b does not lead while a does")
	leader, ok, err := Leader(ctx, b, "/data/e")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, tokA, leader.Version)

	require.NoError(t, a.Close(ctx)) // a's session ends: its item goes
	wg.Wait()
	require.Greater(t, tokB, tokA, "the fencing token grows")
	require.NoError(t, eb.Resign(ctx))
	list, err := b.Get(ctx, "/data/e")
	require.NoError(t, err)
	require.Empty(t, list.Items)

	// Lock: a second locker waits until Unlock; ctx expiry withdraws.
	c := connectFake(t, f)
	m1, m2 := NewMutex(b, "/data/l"), NewMutex(c, "/data/l")
	t1, err := m1.Lock(ctx)
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = m2.Lock(short)
	cancel()
	require.True(t, errors.Is(err, context.DeadlineExceeded))
	list, err = c.Get(ctx, "/data/l")
	require.NoError(t, err)
	require.Len(t, list.Items, 1, "the timed-out waiter withdrew its item")
	require.NoError(t, m1.Unlock(ctx))
	t2, err := m2.Lock(ctx)
	require.NoError(t, err)
	require.Greater(t, t2, t1)
}

// Many lockers at once: never two holders. (Regression: a candidate that
// took its watch's initial items as the candidate set, before the events
// between the watch and its push arrived, thought it led beside another.)
func TestMutexExcludesConcurrentLockers(t *testing.T) {
	t.Run("list in the push's answer", func(t *testing.T) { testMutexExcludes(t, false) })
	// A list too large for the answer: the candidates count the watch's
	// events up to their own push instead.
	t.Run("items omitted", func(t *testing.T) { testMutexExcludes(t, true) })
}

func testMutexExcludes(t *testing.T, omit bool) {
	f := newFakeCluster(t, 1)
	f.omitItems = omit
	ctx := testCtx(t)
	var holders, maxHolders, rounds atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		c := connectFake(t, f)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := NewMutex(c, "/data/many")
			for j := 0; j < 3; j++ {
				_, err := m.Lock(ctx)
				require.NoError(t, err)
				n := holders.Add(1)
				for {
					old := maxHolders.Load()
					if n <= old || maxHolders.CompareAndSwap(old, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
				holders.Add(-1)
				rounds.Add(1)
				require.NoError(t, m.Unlock(ctx))
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int32(18), rounds.Load())
	require.Equal(t, int32(1), maxHolders.Load())
}

func TestSameProcess(t *testing.T) {
	a := ProcessCPU{Seconds: 8.22, Started: 1.79616405967e+09, Resident: 5.3559296e+07}
	require.True(t, a.SameProcess(ProcessCPU{Seconds: 8.23, Started: a.Started, Resident: a.Resident}), "one process seen through two nodes")
	require.False(t, a.SameProcess(ProcessCPU{Seconds: 10.15, Started: a.Started, Resident: 5.238784e+07}), "started together, but two processes")
	require.False(t, a.SameProcess(ProcessCPU{Seconds: 8.22, Started: a.Started + 1, Resident: a.Resident}))
}

// A node that answers pings Unavailable (it lost the leader) is left for
// another before the session's ttl runs out; the session and its watch go
// along.
func TestUnavailablePingsMoveTheSession(t *testing.T) {
	f := newFakeCluster(t, 2)
	c := connectFake(t, f)
	writer := connectFake(t, f, f.addrs()[1])
	ctx := testCtx(t)
	w, err := c.Watch(ctx, "/data/p")
	require.NoError(t, err)
	session := c.SessionID()
	f.nodes[0].mu.Lock()
	f.nodes[0].noLeader = true
	f.nodes[0].mu.Unlock()
	require.Eventually(t, func() bool { _, addr := c.Node(); return addr == f.addrs()[1] }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, session, c.SessionID())
	wr, err := writer.Push(ctx, "/data/p", 1)
	require.NoError(t, err)
	require.Equal(t, []uint64{wr.Item.Version}, collect(t, w, 1))
}

func TestWatchIterator(t *testing.T) {
	f := newFakeCluster(t, 1)
	c := connectFake(t, f)
	ctx := testCtx(t)
	w, err := c.Watch(ctx, "/data/it")
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		_, err := c.Push(ctx, "/data/it", i)
		require.NoError(t, err)
	}
	var kinds []Kind
	for ev, err := range w.All(ctx) {
		require.NoError(t, err)
		kinds = append(kinds, ev.Kind)
		if len(kinds) == 3 {
			require.NoError(t, w.Close(ctx))
		}
	}
	require.Equal(t, []Kind{KindPush, KindPush, KindPush}, kinds, "the range ends after Close, without error")
	require.NoError(t, w.Err())

	// The same path can be watched again once closed; twice at once cannot.
	w2, err := c.Watch(ctx, "/data/it")
	require.NoError(t, err)
	_, err = c.Watch(ctx, "/data/it")
	require.Equal(t, fsm.InvalidParameter, CodeOf(err))
	short, cancel := context.WithCancel(ctx)
	cancel()
	for _, err := range w2.All(short) {
		require.ErrorIs(t, err, context.Canceled)
	}
}

// A leader whose session ends learns it: Lost closes.
func TestElectionLostWithTheSession(t *testing.T) {
	f := newFakeCluster(t, 1)
	c := connectFake(t, f)
	ctx := testCtx(t)
	e := NewElection(c, "/data/lost")
	tok, err := e.Campaign(ctx, "x")
	require.NoError(t, err)
	require.Equal(t, tok, e.Token())
	select {
	case <-e.Lost():
		t.Fatal("lost while the session lives")
	case <-time.After(50 * time.Millisecond):
	}
	f.mu.Lock()
	clear(f.sess)
	f.mu.Unlock()
	select {
	case <-e.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("leadership outlived the session")
	}
}

// Close on a client whose node just died closes the session elsewhere.
func TestCloseAfterNodeDeath(t *testing.T) {
	f := newFakeCluster(t, 2)
	c := connectFake(t, f)
	watcher := connectFake(t, f, f.addrs()[1])
	ctx := testCtx(t)
	wr, err := c.Push(ctx, "/data/cd", 1)
	require.NoError(t, err)
	w, err := watcher.Watch(ctx, "/data/cd")
	require.NoError(t, err)
	f.kill(f.nodes[0])
	require.NoError(t, c.Close(ctx))
	ev := <-w.Events()
	require.Equal(t, KindDelete, ev.Kind)
	require.Equal(t, wr.Item.Version, ev.Item.Version)
	require.ErrorIs(t, c.Err(), ErrClosed)
}

func TestUnencodableDataIsInvalidParameter(t *testing.T) {
	f := newFakeCluster(t, 1)
	c := connectFake(t, f)
	_, err := c.Push(testCtx(t), "/data/x", make(chan int))
	require.Equal(t, fsm.InvalidParameter, CodeOf(err))
}

func TestOnPingReportsEveryPing(t *testing.T) {
	f := newFakeCluster(t, 1)
	var mu sync.Mutex
	var pings []Ping
	c, err := Connect(testCtx(t), Config{Endpoints: f.addrs(), TTL: 600 * time.Millisecond, OnPing: func(p Ping) {
		mu.Lock()
		pings = append(pings, p)
		mu.Unlock()
	}})
	require.NoError(t, err)
	t.Cleanup(c.Abandon)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(pings) >= 2 }, 10*time.Second, 10*time.Millisecond)
	f.mu.Lock()
	clear(f.sess)
	f.mu.Unlock()
	<-c.Done()
	mu.Lock()
	defer mu.Unlock()
	last := pings[len(pings)-1]
	require.Equal(t, fsm.SessionExpired, CodeOf(last.Err), "the ping that learned of the expiry is reported, with its refusal")
	for i, p := range pings[:len(pings)-1] {
		require.NoError(t, p.Err, "ping %d was answered OK", i)
		require.Equal(t, f.addrs()[0], p.Address)
		require.False(t, p.Answered.Before(p.Sent), "ping %d: answered before it was sent", i)
		if i > 0 {
			require.False(t, p.Sent.Before(pings[i-1].Answered), "pings are one at a time")
		}
	}
}
