package peer

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

var testNonces atomic.Uint64

func nonce() string { return "test" + strconv.FormatUint(testNonces.Add(1), 10) }

// rawConn is a TLS connection to a node, driven by hand: a test writes
// openings and frames a peer (or a stranger, or a recording) could send.
type rawConn struct {
	t    *testing.T
	conn *tls.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, addr string, cred *Node, ca *CA) *rawConn {
	cfg := ClientTLSConfig(ca.Pool(), cred)
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", addr, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	return &rawConn{t: t, conn: conn, br: bufio.NewReader(conn)}
}

func (c *rawConn) binding() string {
	b, err := channelBinding(c.conn.ConnectionState())
	require.NoError(c.t, err)
	return b
}

// opening is a stream's opening request as a peer would send it, kept so
// that a test can alter or resend it.
type opening struct {
	method, url string
	header      http.Header
	body        []byte
}

// signOpening signs an opening for url, bound to binding.
func signOpening(t *testing.T, url, binding string, key ed25519.PrivateKey, keyid string, now time.Time) opening {
	h := http.Header{"Connection": {"Upgrade"}, "Upgrade": {upgradeToken}, "Channel-Binding": {binding}}
	req, err := http.NewRequest(http.MethodPost, url, nil)
	require.NoError(t, err)
	m := httpMessage{method: http.MethodPost, target: req.URL, header: h}
	require.NoError(t, signStream(&m, key, keyid, nonce(), now))
	return opening{method: http.MethodPost, url: url, header: h}
}

// send writes o on the connection and reads the answer.
func (c *rawConn) send(o opening, url string) (int, string) {
	req, err := http.NewRequest(o.method, url, bytes.NewReader(o.body))
	require.NoError(c.t, err)
	req.Header = o.header.Clone()
	require.NoError(c.t, req.Write(c.conn))
	resp, err := http.ReadResponse(c.br, req)
	require.NoError(c.t, err)
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(text)
}

func (c *rawConn) frame(body []byte, ack bool) {
	word := uint64(len(body)) << 1
	if ack {
		word |= 1
	}
	_, err := c.conn.Write(append(binary.AppendUvarint(nil, word), body...))
	require.NoError(c.t, err)
}

// record reads the receiver's next record: an ack's frame number, or a
// refusal's status and text.
func (c *rawConn) record() (kind byte, n uint64, text string) {
	kind, err := c.br.ReadByte()
	require.NoError(c.t, err)
	n, err = binary.ReadUvarint(c.br)
	require.NoError(c.t, err)
	if kind == recordRefuse {
		l, err := binary.ReadUvarint(c.br)
		require.NoError(c.t, err)
		b := make([]byte, l)
		_, err = io.ReadFull(c.br, b)
		require.NoError(c.t, err)
		text = string(b)
	}
	return kind, n, text
}

// ended reports whether the receiver closed the stream.
func (c *rawConn) ended() bool {
	_, err := c.br.ReadByte()
	return err != nil
}

// TestRefusesBadOpeningsAndKeepsWorking sends node 2, over TLS, every kind
// of bad stream opening a stranger or a recording could make: each gets
// 401 (or the error that fits), nothing is delivered, and good traffic
// still is.
func TestRefusesBadOpeningsAndKeepsWorking(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	sender, receiver := c.nodes[1], c.nodes[2]
	url := "https://" + receiver.addr + StreamPath
	_, stranger, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	now := time.Now()
	key := sender.cred.Key

	// A good opening, and a frame on it.
	good := dialRaw(t, receiver.addr, sender.cred, c.ca)
	recorded := signOpening(t, url, good.binding(), key, "1", now)
	code, text := good.send(recorded, url)
	require.Equal(t, http.StatusSwitchingProtocols, code, text)
	good.frame(EncodeBatch([]session.PeerMessage{heartbeat(1, 1, 2, 1)}), true)
	kind, n, _ := good.record()
	require.Equal(t, []any{byte(recordAck), uint64(1)}, []any{kind, n})

	for _, tc := range []struct {
		name string
		make func(b string) opening // b: the connection's binding
		url  string
		want int
		why  string
	}{
		{"unsigned", func(b string) opening {
			return opening{method: http.MethodPost, header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {upgradeToken}, "Channel-Binding": {b}}}
		}, url, http.StatusUnauthorized, "not signed"},
		{"unknown key", func(b string) opening { return signOpening(t, url, b, stranger, "9", now) }, url, http.StatusUnauthorized, "unknown key"},
		{"known keyid, wrong key", func(b string) opening { return signOpening(t, url, b, stranger, "1", now) }, url, http.StatusUnauthorized, "does not verify"},
		{"altered target", func(b string) opening { return signOpening(t, url+"?to=elsewhere", b, key, "1", now) }, url, http.StatusUnauthorized, "does not verify"},
		{"signed for another node", func(b string) opening {
			return signOpening(t, "https://"+c.nodes[3].addr+StreamPath, b, key, "1", now)
		}, url, http.StatusUnauthorized, "does not verify"},
		{"altered date", func(b string) opening {
			o := signOpening(t, url, b, key, "1", now)
			o.header.Set("Date", now.Add(-time.Second).UTC().Format(http.TimeFormat))
			return o
		}, url, http.StatusUnauthorized, "does not verify"},
		{"altered binding", func(b string) opening {
			o := signOpening(t, url, b, key, "1", now)
			o.header.Set("Channel-Binding", "tls-exporter=:"+strings.Repeat("A", 43)+"=:")
			return o
		}, url, http.StatusUnauthorized, "does not verify"},
		{"binding not signed", func(b string) opening {
			h := http.Header{"Connection": {"Upgrade"}, "Upgrade": {upgradeToken}, "Channel-Binding": {b}}
			req, _ := http.NewRequest(http.MethodPost, url, nil)
			m := httpMessage{method: http.MethodPost, target: req.URL, header: h}
			require.NoError(t, signRequest(&m, nil, key, "1", nonce(), now))
			return opening{method: http.MethodPost, header: h}
		}, url, http.StatusUnauthorized, `does not cover "channel-binding"`},
		{"recorded on another connection", func(string) opening { return recorded }, url, http.StatusUnauthorized, "not bound to this connection"},
		{"bound to another connection", func(string) opening {
			return signOpening(t, url, good.binding(), key, "1", now)
		}, url, http.StatusUnauthorized, "not bound to this connection"},
		{"stale", func(b string) opening {
			return signOpening(t, url, b, key, "1", now.Add(-DefaultReplayWindow-2*time.Second))
		}, url, http.StatusUnauthorized, "replay window"},
		{"with a body", func(b string) opening {
			o := signOpening(t, url, b, key, "1", now)
			o.body = []byte("x")
			return o
		}, url, http.StatusRequestEntityTooLarge, "no body"},
		{"not an upgrade", func(b string) opening {
			o := signOpening(t, url, b, key, "1", now)
			o.header.Del("Upgrade")
			o.header.Del("Connection")
			return o
		}, url, http.StatusUpgradeRequired, upgradeToken},
		{"GET", func(b string) opening {
			o := signOpening(t, url, b, key, "1", now)
			o.method = http.MethodGet
			return o
		}, url, http.StatusMethodNotAllowed, "POST only"},
		{"other path", func(b string) opening { return signOpening(t, url, b, key, "1", now) }, "https://" + receiver.addr + "/other", http.StatusNotFound, "no such path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := dialRaw(t, receiver.addr, sender.cred, c.ca)
			o := tc.make(conn.binding())
			o.url = tc.url
			conn.t = t
			code, text := conn.send(o, tc.url)
			require.Equal(t, tc.want, code, text)
			require.Contains(t, text, tc.why)
		})
	}

	// The replay cache: an opening admitted but refused for want of an
	// upgrade is no good a second time, even on its own connection.
	again := dialRaw(t, receiver.addr, sender.cred, c.ca)
	o := signOpening(t, url, again.binding(), key, "1", now)
	plain := opening{method: o.method, header: o.header.Clone()}
	plain.header.Del("Upgrade")
	plain.header.Del("Connection")
	code, _ = again.send(plain, url)
	require.Equal(t, http.StatusUpgradeRequired, code)
	code, text = again.send(o, url)
	require.Equal(t, http.StatusUnauthorized, code, text)
	require.Contains(t, text, "already seen")

	// Only the first good frame got through.
	got := receiver.received()
	require.Len(t, got, 1)
	require.Equal(t, uint64(1), got[0].Raft.Term)

	// The good stream and the transport itself are still served.
	good.frame(EncodeBatch([]session.PeerMessage{heartbeat(1, 1, 2, 20)}), false)
	receiver.waitFor(func(got []session.PeerMessage) bool { return len(got) == 2 })
	sender.tr.Send([]session.PeerMessage{heartbeat(1, 1, 2, 21)})
	got = receiver.waitFor(func(got []session.PeerMessage) bool { return len(got) == 3 })
	require.Equal(t, []uint64{1, 20, 21}, []uint64{got[0].Raft.Term, got[1].Raft.Term, got[2].Raft.Term})
	require.GreaterOrEqual(t, receiver.tr.Stats().Refused, uint64(16))
	// The transport's own stream, opened last, replaced the hand-made
	// one: a signer has one stream at a time.
	require.True(t, good.ended())
}

// TestRefusesBadFrames: on an open stream, a frame with a message from
// another node than the signer (401), for another node (421), one that
// does not decode (400) or is too large (413) is refused, the stream
// ends, and nothing of it is delivered.
func TestRefusesBadFrames(t *testing.T) {
	c := newTestCluster(t, 1, 3)
	receiver := c.start(t, mustNode(t, c.ca, 2), "127.0.0.1:0", func(cfg *Config) { cfg.MaxBodyBytes = 1024 })
	sender := c.nodes[1]
	url := "https://" + receiver.addr + StreamPath
	big := EncodeBatch([]session.PeerMessage{{Group: 1, From: 1, To: 2, Forward: &session.Forward{ID: 1, Command: make([]byte, 4096)}}})
	for _, tc := range []struct {
		name string
		body []byte
		want int
		why  string
	}{
		{"messages from another node", EncodeBatch([]session.PeerMessage{heartbeat(1, 1, 2, 1), heartbeat(1, 3, 2, 2)}), http.StatusUnauthorized, "claims to be from 3"},
		{"raft message from another node", EncodeBatch([]session.PeerMessage{{Group: 1, From: 1, To: 2, Raft: &raft.Message{Type: raft.MsgHeartbeat, From: 3, To: 2}}}), http.StatusUnauthorized, "claims to be from 3"},
		{"messages for another node", EncodeBatch([]session.PeerMessage{heartbeat(1, 1, 3, 3)}), http.StatusMisdirectedRequest, "is for 3"},
		{"garbage", []byte{0xff, 0xff, 0xff}, http.StatusBadRequest, "peer:"},
		{"too large", big, http.StatusRequestEntityTooLarge, "over 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := dialRaw(t, receiver.addr, sender.cred, c.ca)
			conn.t = t
			code, text := conn.send(signOpening(t, url, conn.binding(), sender.cred.Key, "1", time.Now()), url)
			require.Equal(t, http.StatusSwitchingProtocols, code, text)
			conn.frame(EncodeBatch([]session.PeerMessage{heartbeat(1, 1, 2, 7)}), false)
			conn.frame(tc.body, false)
			kind, code64, text := conn.record()
			require.Equal(t, byte(recordRefuse), kind)
			require.Equal(t, uint64(tc.want), code64, text)
			require.Contains(t, text, tc.why)
			require.True(t, conn.ended())
		})
	}
	// Each good first frame was delivered, nothing of a bad one.
	got := receiver.received()
	require.Len(t, got, 5)
	for _, m := range got {
		require.Equal(t, uint64(7), m.Raft.Term)
	}
	// The node keeps working.
	sender.tr.SetPeer(2, receiver.addr)
	sender.tr.Send([]session.PeerMessage{heartbeat(1, 1, 2, 8)})
	got = receiver.waitFor(func(got []session.PeerMessage) bool { return len(got) == 6 })
	require.Equal(t, uint64(8), got[5].Raft.Term)
}

func mustNode(t *testing.T, ca *CA, id raft.NodeID) *Node {
	n, err := ca.NewNode(id)
	require.NoError(t, err)
	return n
}
