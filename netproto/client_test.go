package netproto

import (
	"bufio"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// rawClient speaks the Haven protocol with nothing but a socket and the
// msgpack library, as an outside client would.
type rawClient struct {
	t   *testing.T
	nc  net.Conn
	dec *msgpack.Decoder
	rid int
}

func dial(t *testing.T, addr string) *rawClient {
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, dec: msgpack.NewDecoder(bufio.NewReader(nc))}
}

type M = map[string]any

func (c *rawClient) send(m M) int {
	c.rid++
	if _, ok := m["rid"]; !ok {
		m["rid"] = c.rid
	}
	b, err := msgpack.Marshal(m)
	require.NoError(c.t, err)
	_, err = c.nc.Write(b)
	require.NoError(c.t, err)
	return c.rid
}

func (c *rawClient) recv() M {
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m M
	require.NoError(c.t, c.dec.Decode(&m))
	return m
}

// call sends m and waits for its answer (no pipelining).
func (c *rawClient) call(m M) M {
	rid := c.send(m)
	a := c.recv()
	require.EqualValues(c.t, rid, a["rid"], "answer %v", a)
	return a
}

func (c *rawClient) connect() M {
	a := c.call(M{"action": "connect", "version": "1", "ttl_ms": 5000})
	require.Equal(c.t, true, a["result"], "connect: %v", a)
	return a
}

// closed reports whether the server closed the connection (EOF soon).
// closed says whether the server closed the connection: the next read
// ends in EOF or a reset within 5 s. A read that times out, or a message,
// means it is still open.
func (c *rawClient) closed() bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.nc.SetReadDeadline(time.Time{})
	var m M
	err := c.dec.Decode(&m)
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func errCode(a M) string {
	e, _ := a["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}
