package peer

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// A stream is one signed request that upgrades its connection (doc.go,
// "Streams"). The opening request has no body; its signature also covers
// Channel-Binding, the connection's TLS exporter (RFC 9266), so it is good
// on this connection only. After 101 the sender writes frames, the
// receiver answers records:
//
//	frame   uvarint(len<<1 | ack) then len bytes: a batch (doc.go)
//	record  'a' uvarint(frame number, from 1)         the frame is delivered
//	        'e' uvarint(status) uvarint(len) text     refused; the stream ends
//
// A frame asks for an ack (the low bit) when it carries a snapshot, so
// that Config.SnapshotSent hears that the peer took it.

// StreamPath is where a node opens its stream to a peer.
const StreamPath = "/peer/v1/stream"

// upgradeToken names the protocol the connection switches to.
const upgradeToken = "haven-peer/1"

// Record kinds on the receiver's side of a stream.
const (
	recordAck    = 'a'
	recordRefuse = 'e'
)

// exporterLabel is RFC 9266's label for the tls-exporter channel binding
// (32 bytes, no context).
const exporterLabel = "EXPORTER-Channel-Binding"

// streamComponents is what a stream's opening signature covers: a
// request's components and the channel binding.
var streamComponents = append(append([]string(nil), coveredComponents...), "channel-binding")

// channelBinding is the Channel-Binding field's value for a connection:
// an RFC 8941 dictionary with one byte sequence, "tls-exporter".
func channelBinding(cs tls.ConnectionState) (string, error) {
	if cs.Version != tls.VersionTLS13 {
		// RFC 9266 §2: tls-exporter without TLS 1.3 (or extended master
		// secret) does not bind.
		return "", errors.New("peer: channel binding needs TLS 1.3")
	}
	ekm, err := cs.ExportKeyingMaterial(exporterLabel, nil, 32)
	if err != nil {
		return "", err
	}
	return "tls-exporter=:" + base64.StdEncoding.EncodeToString(ekm) + ":", nil
}

// stream is the sending side of one open stream.
type stream struct {
	p       *peer
	conn    *tls.Conn
	address string
	// frames counts the frames written; the receiver numbers them alike.
	frames uint64

	mu sync.Mutex
	// waiting are the frames with snapshots not yet acked, in order.
	waiting []ackWait
	dead    bool
	err     error
	done    chan struct{} // closed when the reader has ended
}

type ackWait struct {
	frame     uint64
	snapshots int
}

// open dials address and opens a stream on the connection.
func (p *peer) open(address string) (*stream, error) {
	cfg := &p.t.cfg
	ctx, cancel := context.WithTimeout(p.ctx, cfg.RequestTimeout)
	defer cancel()
	tlsCfg := cfg.ClientTLS.Clone()
	tlsCfg.NextProtos = []string{"http/1.1"}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 15 * time.Second}, Config: tlsCfg}
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	conn := c.(*tls.Conn)
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	if deadline, has := ctx.Deadline(); has {
		_ = conn.SetDeadline(deadline)
	}
	binding, err := channelBinding(conn.ConnectionState())
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, "https://"+address+StreamPath, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", upgradeToken)
	req.Header.Set("Channel-Binding", binding)
	m := httpMessage{method: req.Method, target: req.URL, header: req.Header}
	if err := signStream(&m, cfg.Key, p.t.keyid, p.t.nonce(), cfg.Now()); err != nil {
		return nil, err
	}
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 512)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("peer %d answered %s: %s", p.id, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	ok = true
	s := &stream{p: p, conn: conn, address: address, done: make(chan struct{})}
	go s.read(br)
	return s, nil
}

// signStream signs a stream's opening request: no body, and the
// Channel-Binding field already set.
func signStream(m *httpMessage, key ed25519.PrivateKey, keyid, nonce string, now time.Time) error {
	return signComponents(m, nil, streamComponents, key, keyid, nonce, now)
}

// write sends one frame: body is a batch with frameHeaderRoom bytes free
// in front of it, where the frame's length goes. It does not wait for
// the peer.
func (s *stream) write(buf []byte, snapshots int) error {
	body := buf[frameHeaderRoom:]
	word := uint64(len(body)) << 1
	if snapshots > 0 {
		word |= 1
	}
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], word)
	start := frameHeaderRoom - n
	copy(buf[start:], hdr[:n])
	s.frames++
	s.mu.Lock()
	if s.dead {
		err := s.err
		s.mu.Unlock()
		s.p.reportSnapshots(snapshots, false)
		return err
	}
	timeout := s.p.t.cfg.RequestTimeout + time.Duration(len(body)>>20)*time.Second
	if snapshots > 0 {
		s.waiting = append(s.waiting, ackWait{s.frames, snapshots})
		// The ack must come in time, or the stream is given up (and the
		// snapshot reported failed).
		_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
	}
	s.mu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := s.conn.Write(buf[start:]); err != nil {
		s.fail(err)
		return err
	}
	return nil
}

// frameHeaderRoom is the space kept in front of a pending batch for its
// frame header, so that a frame goes out in one write.
const frameHeaderRoom = binary.MaxVarintLen64

// read reads the receiver's records until the stream ends.
func (s *stream) read(br *bufio.Reader) {
	defer close(s.done)
	for {
		kind, err := br.ReadByte()
		if err != nil {
			s.fail(err)
			return
		}
		switch kind {
		case recordAck:
			n, err := binary.ReadUvarint(br)
			if err != nil {
				s.fail(err)
				return
			}
			s.acked(n)
		case recordRefuse:
			code, err1 := binary.ReadUvarint(br)
			l, err2 := binary.ReadUvarint(br)
			if err := errors.Join(err1, err2); err != nil {
				s.fail(err)
				return
			}
			text := make([]byte, min(l, 512))
			_, _ = io.ReadFull(br, text)
			s.fail(fmt.Errorf("peer %d refused a frame: %d %s: %s", s.p.id, code, http.StatusText(int(code)), text))
			return
		default:
			s.fail(fmt.Errorf("peer %d: unknown record %q on the stream", s.p.id, kind))
			return
		}
	}
}

// acked reports the snapshots of the frames up to n.
func (s *stream) acked(n uint64) {
	s.mu.Lock()
	var done int
	for len(s.waiting) > 0 && s.waiting[0].frame <= n {
		done += s.waiting[0].snapshots
		s.waiting = s.waiting[1:]
	}
	if len(s.waiting) == 0 {
		_ = s.conn.SetReadDeadline(time.Time{})
	}
	s.mu.Unlock()
	s.p.reportSnapshots(done, true)
}

// fail ends the stream (once) and reports its unacked snapshots failed.
func (s *stream) fail(err error) {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.dead, s.err = true, err
	var lost int
	for _, w := range s.waiting {
		lost += w.snapshots
	}
	s.waiting = nil
	s.mu.Unlock()
	_ = s.conn.Close()
	s.p.reportSnapshots(lost, false)
}

func (s *stream) alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.dead
}

// close ends the stream and waits for its reader.
func (s *stream) close() {
	s.fail(errors.New("peer: stream closed"))
	<-s.done
}
