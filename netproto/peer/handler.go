package peer

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/havenproject/haven/raft"
)

// Handler receives batches from peers. havend serves it over TLS (with
// ServerTLS) on the node's peer address. A request is delivered only if its
// signature verifies against the cluster's key list, is fresh, was not seen
// before, and every message in it is from the signer to this node.
func (t *Transport) Handler() http.Handler { return http.HandlerFunc(t.serve) }

func (t *Transport) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != BatchPath {
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
	body, err := readBody(w, r, t.cfg.MaxBodyBytes)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			t.refuse(w, r, http.StatusRequestEntityTooLarge, err)
		} else {
			t.refuse(w, r, http.StatusBadRequest, err)
		}
		return
	}
	now := t.cfg.Now()
	m := receivedMessage(r)
	v, err := t.verifier.verify(&m, body, now)
	if err != nil {
		t.refuse(w, r, http.StatusUnauthorized, err)
		return
	}
	// Only once the signature verified: nobody outside the cluster can
	// fill the cache.
	if !t.replay.admit(v.signature, v.created.Unix(), now) {
		t.refuse(w, r, http.StatusUnauthorized, ErrReplayed)
		return
	}
	msgs, err := DecodeBatch(body)
	if err != nil {
		t.refuse(w, r, http.StatusBadRequest, err)
		return
	}
	from, _ := strconv.ParseUint(v.keyid, 10, 64)
	for i := range msgs {
		// A node speaks only for itself, and a batch recorded on its way
		// to one node is no good at another.
		if msgs[i].From != raft.NodeID(from) || (msgs[i].Raft != nil && msgs[i].Raft.From != raft.NodeID(from)) {
			t.refuse(w, r, http.StatusUnauthorized, fmt.Errorf("message %d claims to be from %d, signed by %d", i, msgs[i].From, from))
			return
		}
		if msgs[i].To != t.cfg.ID || (msgs[i].Raft != nil && msgs[i].Raft.To != t.cfg.ID) {
			t.refuse(w, r, http.StatusMisdirectedRequest, fmt.Errorf("message %d is for %d, not %d", i, msgs[i].To, t.cfg.ID))
			return
		}
	}
	if len(msgs) > 0 {
		t.cfg.Deliver(msgs)
		t.received.Add(uint64(len(msgs)))
	}
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads the body up to limit. The declared length sizes the
// buffer only up to a MiB: a claim of a large body costs memory only as the
// bytes actually arrive.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	size := r.ContentLength
	if size < 0 || size > 1<<20 {
		size = 1 << 20
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+1))
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// refuse answers an error, and logs it (at most once a second: a flood of
// bad requests must not flood the log).
func (t *Transport) refuse(w http.ResponseWriter, r *http.Request, code int, err error) {
	t.refused.Add(1)
	now := time.Now().UnixNano()
	if last := t.lastRefusalLog.Load(); now-last > int64(time.Second) && t.lastRefusalLog.CompareAndSwap(last, now) {
		t.cfg.Logger.Warn("refused a peer request", "remote", r.RemoteAddr, "code", code, "err", err)
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Signature realm="haven-peer"`)
	}
	http.Error(w, err.Error(), code)
}
