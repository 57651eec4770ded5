package main

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// havenConn is a tiny raw Haven client over the wire (the real Go client
// is netproto/client's): just enough for the end-to-end tests.
type havenConn struct {
	t   testing.TB
	nc  net.Conn
	dec *msgpack.Decoder
	rid int
}

type M = map[string]any

func dialHaven(t testing.TB, addr string) *havenConn {
	var nc net.Conn
	var err error
	for i := 0; i < 50; i++ {
		if nc, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	return &havenConn{t: t, nc: nc, dec: msgpack.NewDecoder(bufio.NewReader(nc))}
}

func (c *havenConn) send(m M) int {
	c.rid++
	m["rid"] = c.rid
	b, err := msgpack.Marshal(m)
	require.NoError(c.t, err)
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = c.nc.Write(b)
	require.NoError(c.t, err)
	return c.rid
}

// trySend is send for goroutines that race a close.
func (c *havenConn) trySend(m M) error {
	b, err := msgpack.Marshal(m)
	if err != nil {
		return err
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = c.nc.Write(b)
	return err
}

func (c *havenConn) recv() (M, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(15 * time.Second))
	var m M
	err := c.dec.Decode(&m)
	return m, err
}

// call sends m and returns its answer; an error if the connection broke.
func (c *havenConn) call(m M) (M, error) {
	c.send(m)
	return c.recv()
}

func (c *havenConn) mustCall(m M) M {
	a, err := c.call(m)
	require.NoError(c.t, err)
	return a
}

func ok(a M) bool { return a["result"] == true }

func code(a M) string {
	e, _ := a["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func asUint(v any) uint64 {
	switch x := v.(type) {
	case int8:
		return uint64(x)
	case int16:
		return uint64(x)
	case int32:
		return uint64(x)
	case int64:
		return uint64(x)
	case uint8:
		return uint64(x)
	case uint16:
		return uint64(x)
	case uint32:
		return uint64(x)
	case uint64:
		return x
	}
	return 0
}
