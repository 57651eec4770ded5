package peer

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// Handler receives streams from peers. havend serves it over TLS (with
// ServerTLS) on the node's peer address. A stream is opened only if its
// signature verifies against the cluster's key list, is fresh, was not
// seen before and is bound to the connection it came on; a frame is
// delivered only if every message in it is from the signer to this node.
func (t *Transport) Handler() http.Handler { return http.HandlerFunc(t.serve) }

// ErrUnbound refuses an opening signed for another TLS connection (or none).
var ErrUnbound = errors.New("peer: signature is not bound to this connection")

func (t *Transport) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != StreamPath {
		t.refuse(w, r, http.StatusNotFound, errors.New("no such path"))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		t.refuse(w, r, http.StatusMethodNotAllowed, errors.New("POST only"))
		return
	}
	if t.isClosed() {
		t.refuse(w, r, http.StatusServiceUnavailable, errors.New("transport closed"))
		return
	}
	// Refuse the unsigned before reading a body.
	if r.Header.Get("Signature") == "" || r.Header.Get("Signature-Input") == "" {
		t.refuse(w, r, http.StatusUnauthorized, ErrUnsigned)
		return
	}
	// The opening has no body: the frames come after it, on the upgraded
	// connection.
	body, err := readBody(w, r, 0)
	if err != nil {
		t.refuse(w, r, http.StatusRequestEntityTooLarge, errors.New("a stream's opening request has no body"))
		return
	}
	now := t.cfg.Now()
	m := receivedMessage(r)
	v, err := t.verifier.verify(&m, body, now)
	if err != nil {
		t.refuse(w, r, http.StatusUnauthorized, err)
		return
	}
	// The signed binding must be this connection's: a recorded opening is
	// no good on any other.
	if r.TLS == nil {
		t.refuse(w, r, http.StatusUnauthorized, ErrUnbound)
		return
	}
	want, err := channelBinding(*r.TLS)
	if got := r.Header.Values("Channel-Binding"); err != nil || len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), []byte(want)) != 1 {
		t.refuse(w, r, http.StatusUnauthorized, ErrUnbound)
		return
	}
	// Only once the signature verified: nobody outside the cluster can
	// fill the cache.
	if !t.replay.admit(v.signature, v.created.Unix(), now) {
		t.refuse(w, r, http.StatusUnauthorized, ErrReplayed)
		return
	}
	if r.ProtoMajor != 1 || !headerHasToken(r.Header, "Connection", "upgrade") || !strings.EqualFold(r.Header.Get("Upgrade"), upgradeToken) {
		w.Header().Set("Upgrade", upgradeToken)
		t.refuse(w, r, http.StatusUpgradeRequired, errors.New("a stream upgrades an HTTP/1.1 connection to "+upgradeToken))
		return
	}
	from, _ := strconv.ParseUint(v.keyid, 10, 64)
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.refuse(w, r, http.StatusInternalServerError, err)
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Time{})
	in := &inStream{t: t, from: raft.NodeID(from), conn: conn, w: rw.Writer}
	if !t.addStream(in) {
		return
	}
	defer t.removeStream(in)
	t.heard(in.from)
	_ = conn.SetWriteDeadline(time.Now().Add(t.cfg.RequestTimeout))
	_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + upgradeToken + "\r\n\r\n")
	if rw.Flush() != nil {
		return
	}
	in.serve(rw.Reader, r.RemoteAddr)
}

// headerHasToken reports whether a comma-separated field lists token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// inStream is the receiving side of one stream.
type inStream struct {
	t    *Transport
	from raft.NodeID
	conn net.Conn
	w    *bufio.Writer
}

// signer is what the receiver keeps per sending node: its newest stream
// (an older one is closed when a newer opens, so that one signer's frames
// never arrive by two streams at once) and the lock delivery takes, so
// that Deliver sees one frame at a time from each peer.
type signer struct {
	deliver sync.Mutex
	current *inStream
}

// addStream makes in its signer's current stream, closing the older one;
// false if the transport is closed.
func (t *Transport) addStream(in *inStream) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	s := t.signers[in.from]
	if s == nil {
		s = &signer{}
		t.signers[in.from] = s
	}
	if s.current != nil {
		_ = s.current.conn.Close()
	}
	s.current = in
	return true
}

// heard ends the backoff of the sender to a peer that just opened a stream
// to this node: it is up again (a restarted node), so dial it now.
func (t *Transport) heard(from raft.NodeID) {
	t.mu.RLock()
	p := t.peers[from]
	t.mu.RUnlock()
	if p != nil {
		p.heard()
	}
}

func (t *Transport) removeStream(in *inStream) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.signers[in.from]; s != nil && s.current == in {
		s.current = nil
	}
}

// serve reads frames in order and delivers each, until the stream ends
// or a frame is refused.
func (in *inStream) serve(br *bufio.Reader, remote string) {
	t := in.t
	var frames uint64
	for {
		word, err := binary.ReadUvarint(br)
		if err != nil {
			return // the sender went away, or the stream was closed
		}
		frames++
		size := word >> 1
		if size > uint64(t.cfg.MaxBodyBytes) {
			in.refuse(remote, http.StatusRequestEntityTooLarge, fmt.Errorf("frame of %d bytes, over %d", size, t.cfg.MaxBodyBytes))
			return
		}
		body, err := readFrame(br, int(size))
		if err != nil {
			return
		}
		msgs, err := DecodeBatch(body)
		if err != nil {
			in.refuse(remote, http.StatusBadRequest, err)
			return
		}
		for i := range msgs {
			// A node speaks only for itself, and a frame recorded on its
			// way to one node is no good at another.
			from, to := msgs[i].From, msgs[i].To
			if r := msgs[i].Raft; r != nil {
				if from == in.from {
					from = r.From
				}
				if to == t.cfg.ID {
					to = r.To
				}
			}
			if from != in.from {
				in.refuse(remote, http.StatusUnauthorized, fmt.Errorf("message %d claims to be from %d, signed by %d", i, from, in.from))
				return
			}
			if to != t.cfg.ID {
				in.refuse(remote, http.StatusMisdirectedRequest, fmt.Errorf("message %d is for %d, not %d", i, to, t.cfg.ID))
				return
			}
		}
		if !in.deliver(msgs) {
			return
		}
		if word&1 != 0 {
			var rec [1 + binary.MaxVarintLen64]byte
			rec[0] = recordAck
			n := binary.PutUvarint(rec[1:], frames)
			_ = in.conn.SetWriteDeadline(time.Now().Add(t.cfg.RequestTimeout))
			if _, err := in.w.Write(rec[:1+n]); err != nil || in.w.Flush() != nil {
				return
			}
		}
	}
}

// deliver hands msgs to Deliver if in is still its signer's stream.
func (in *inStream) deliver(msgs []session.PeerMessage) bool {
	t := in.t
	t.mu.RLock()
	s := t.signers[in.from]
	t.mu.RUnlock()
	s.deliver.Lock()
	defer s.deliver.Unlock()
	t.mu.RLock()
	current := s.current == in && !t.closed
	t.mu.RUnlock()
	if !current {
		return false
	}
	if len(msgs) > 0 {
		t.cfg.Deliver(msgs)
		t.received.Add(uint64(len(msgs)))
	}
	return true
}

// readFrame reads a frame's body into a buffer of its own (Deliver keeps
// slices of it). A large claimed size costs memory only as the bytes
// arrive.
func readFrame(r io.Reader, size int) ([]byte, error) {
	if size <= 1<<20 {
		buf := make([]byte, size)
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	var b bytes.Buffer
	b.Grow(1 << 20)
	n, err := b.ReadFrom(io.LimitReader(r, int64(size)))
	if err == nil && n < int64(size) {
		err = io.ErrUnexpectedEOF
	}
	return b.Bytes(), err
}

// refuse tells the sender why its frame is refused; the stream then ends.
func (in *inStream) refuse(remote string, code int, err error) {
	in.t.logRefusal(remote, code, err)
	text := err.Error()
	rec := []byte{recordRefuse}
	rec = binary.AppendUvarint(rec, uint64(code))
	rec = binary.AppendUvarint(rec, uint64(len(text)))
	rec = append(rec, text...)
	_ = in.conn.SetDeadline(time.Now().Add(time.Second))
	_, _ = in.w.Write(rec)
	_ = in.w.Flush()
	// Close gently: what the sender already wrote is read and dropped (for
	// a second at most), so that the kernel does not answer it with a
	// reset that could destroy the record before the sender reads it.
	if tc, ok := in.conn.(*tls.Conn); ok {
		_ = tc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(in.conn, 1<<20))
}

// readBody reads the body up to limit. The declared length sizes the
// buffer only up to a MiB: a claim of a large body costs memory only as the
// bytes actually arrive.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	size := r.ContentLength
	if size < 0 || size > 1<<20 {
		size = 1 << 20
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(size, limit)+1))
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// refuse answers an error, and logs it.
func (t *Transport) refuse(w http.ResponseWriter, r *http.Request, code int, err error) {
	t.logRefusal(r.RemoteAddr, code, err)
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Signature realm="haven-peer"`)
	}
	http.Error(w, err.Error(), code)
}

// logRefusal counts a refusal and logs it (at most once a second: a flood
// of bad requests must not flood the log).
func (t *Transport) logRefusal(remote string, code int, err error) {
	t.refused.Add(1)
	now := time.Now().UnixNano()
	if last := t.lastRefusalLog.Load(); now-last > int64(time.Second) && t.lastRefusalLog.CompareAndSwap(last, now) {
		t.cfg.Logger.Warn("refused a peer request", "remote", remote, "code", code, "err", err)
	}
}
