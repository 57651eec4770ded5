package peer

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// signed is a request as a peer would send it, kept so that a test can
// alter or resend it.
type signed struct {
	url    string
	header http.Header
	body   []byte
}

var testNonces atomic.Uint64

func nonce() string { return "test" + strconv.FormatUint(testNonces.Add(1), 10) }

func sign(t *testing.T, url string, body []byte, key ed25519.PrivateKey, keyid string, now time.Time) signed {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	m := httpMessage{method: req.Method, target: req.URL, header: req.Header}
	require.NoError(t, signRequest(&m, body, key, keyid, nonce(), now))
	return signed{url: url, header: req.Header, body: body}
}

func (s signed) send(t *testing.T, client *http.Client, method, url string) (int, string) {
	req, err := http.NewRequest(method, url, bytes.NewReader(s.body))
	require.NoError(t, err)
	req.Header = s.header.Clone()
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(text)
}

// TestRefusesBadRequestsAndKeepsWorking sends node 2, over TLS, every kind
// of bad request a stranger or a recording could make: each gets 401 (or
// the error that fits), nothing is delivered, and good traffic still is.
func TestRefusesBadRequestsAndKeepsWorking(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	sender, receiver := c.nodes[1], c.nodes[2]
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ClientTLSConfig(c.ca.Pool(), sender.cred), ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	url := "https://" + receiver.addr + BatchPath
	batch := func(term uint64) []byte {
		return EncodeBatch([]session.PeerMessage{heartbeat(1, 1, 2, term)})
	}
	_, stranger, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	now := time.Now()

	good := sign(t, url, batch(1), sender.cred.Key, "1", now)
	code, _ := good.send(t, client, http.MethodPost, url)
	require.Equal(t, http.StatusNoContent, code)

	altered := sign(t, url, batch(2), sender.cred.Key, "1", now)
	altered.body = batch(3)
	wrongTarget := sign(t, url+"?to=elsewhere", batch(4), sender.cred.Key, "1", now)
	otherNode := sign(t, "https://"+c.nodes[3].addr+BatchPath, batch(5), sender.cred.Key, "1", now)
	alteredDate := sign(t, url, batch(6), sender.cred.Key, "1", now)
	alteredDate.header.Set("Date", now.Add(-time.Second).UTC().Format(http.TimeFormat))
	unsigned := signed{url: url, header: http.Header{"Content-Type": {contentType}}, body: batch(7)}
	impostor := sign(t, url, EncodeBatch([]session.PeerMessage{heartbeat(1, 3, 2, 8)}), sender.cred.Key, "1", now)

	for _, tc := range []struct {
		name string
		req  signed
		url  string
		want int
		why  string
	}{
		{"unsigned", unsigned, url, http.StatusUnauthorized, "not signed"},
		{"unknown key", sign(t, url, batch(9), stranger, "9", now), url, http.StatusUnauthorized, "unknown key"},
		{"known keyid, wrong key", sign(t, url, batch(10), stranger, "1", now), url, http.StatusUnauthorized, "does not verify"},
		{"altered body", altered, url, http.StatusUnauthorized, "content digest"},
		{"altered target", wrongTarget, url, http.StatusUnauthorized, "does not verify"},
		{"signed for another node", otherNode, url, http.StatusUnauthorized, "does not verify"},
		{"altered date", alteredDate, url, http.StatusUnauthorized, "does not verify"},
		{"stale", sign(t, url, batch(11), sender.cred.Key, "1", now.Add(-DefaultReplayWindow-2*time.Second)), url, http.StatusUnauthorized, "replay window"},
		{"replayed", good, url, http.StatusUnauthorized, "already seen"},
		{"messages from another node", impostor, url, http.StatusUnauthorized, "claims to be from 3"},
		{"messages for another node", sign(t, url, EncodeBatch([]session.PeerMessage{heartbeat(1, 1, 3, 12)}), sender.cred.Key, "1", now), url, http.StatusMisdirectedRequest, "is for 3"},
		{"garbage body, signed", sign(t, url, []byte{0xff, 0xff, 0xff}, sender.cred.Key, "1", now), url, http.StatusBadRequest, "peer:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, text := tc.req.send(t, client, http.MethodPost, tc.url)
			require.Equal(t, tc.want, code, text)
			require.Contains(t, text, tc.why)
		})
	}
	// A recording is no better on a connection of its own.
	fresh := &http.Client{Transport: &http.Transport{TLSClientConfig: ClientTLSConfig(c.ca.Pool(), c.nodes[3].cred), ForceAttemptHTTP2: true}}
	defer fresh.CloseIdleConnections()
	code, text := good.send(t, fresh, http.MethodPost, url)
	require.Equal(t, http.StatusUnauthorized, code, text)
	require.Contains(t, text, "already seen")

	code, _ = good.send(t, client, http.MethodGet, url)
	require.Equal(t, http.StatusMethodNotAllowed, code)
	code, _ = good.send(t, client, http.MethodPost, "https://"+receiver.addr+"/other")
	require.Equal(t, http.StatusNotFound, code)

	// Only the first good batch got through.
	got := receiver.received()
	require.Len(t, got, 1)
	require.Equal(t, uint64(1), got[0].Raft.Term)

	// The receiver keeps working: a fresh request and the transport itself
	// are served.
	code, _ = sign(t, url, batch(20), sender.cred.Key, "1", time.Now()).send(t, client, http.MethodPost, url)
	require.Equal(t, http.StatusNoContent, code)
	sender.tr.Send([]session.PeerMessage{heartbeat(1, 1, 2, 21)})
	got = receiver.waitFor(func(got []session.PeerMessage) bool { return len(got) == 3 })
	require.Equal(t, []uint64{1, 20, 21}, []uint64{got[0].Raft.Term, got[1].Raft.Term, got[2].Raft.Term})
	require.GreaterOrEqual(t, receiver.tr.Stats().Refused, uint64(15))
}

func TestRefusesOversizedBody(t *testing.T) {
	c := newTestCluster(t, 1)
	small := c.start(t, mustNode(t, c.ca, 2), "127.0.0.1:0", func(cfg *Config) { cfg.MaxBodyBytes = 1024 })
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ClientTLSConfig(c.ca.Pool(), c.nodes[1].cred)}}
	defer client.CloseIdleConnections()
	url := "https://" + small.addr + BatchPath
	big := EncodeBatch([]session.PeerMessage{{Group: 1, From: 1, To: 2, Forward: &session.Forward{ID: 1, Command: make([]byte, 4096)}}})
	code, _ := sign(t, url, big, c.nodes[1].cred.Key, "1", time.Now()).send(t, client, http.MethodPost, url)
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	require.Empty(t, small.received())
}

func mustNode(t *testing.T, ca *CA, id raft.NodeID) *Node {
	n, err := ca.NewNode(id)
	require.NoError(t, err)
	return n
}
