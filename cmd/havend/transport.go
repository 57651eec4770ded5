package main

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/havenproject/haven/netproto"
	"github.com/havenproject/haven/netproto/peer"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// peerTransport is netproto/peer's HTTPS transport with its listener.
type peerTransport struct {
	*peer.Transport
	srv *http.Server
}

func (p *peerTransport) Close() error {
	err := p.Transport.Close()
	p.srv.Close()
	return err
}

// startPeerTransport serves node n's peer listener with creds and keys.
func startPeerTransport(n *node, addr string, pool *x509.CertPool, creds *peer.Node, keys map[raft.NodeID]ed25519.PublicKey, logger *slog.Logger) (transport, error) {
	tr, err := peer.New(peer.Config{
		ID: n.id, Key: creds.Key, Keys: keys,
		ServerTLS: peer.ServerTLSConfig(pool, creds), ClientTLS: peer.ClientTLSConfig(pool, creds),
		Deliver: n.deliver, SnapshotSent: n.snapshotSent, Logger: logger.With("node", n.name, "part", "peer"),
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tr.Close()
		return nil, fmt.Errorf("peer listener: %w", err)
	}
	srv := &http.Server{Handler: tr.Handler(), TLSConfig: peer.ServerTLSConfig(pool, creds), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return &peerTransport{Transport: tr, srv: srv}, nil
}

// devTransports gives each -dev node an HTTPS peer transport, with a CA,
// certificates and keys made on the spot.
func devTransports(dir string, peers []PeerConfig, logger *slog.Logger) (func(id string) func(*node) (transport, error), error) {
	var ids []raft.NodeID
	for _, p := range peers {
		ids = append(ids, mustID(p.ID))
	}
	ca, creds, err := peer.DevCluster(ids...)
	if err != nil {
		return nil, err
	}
	keys := map[raft.NodeID]ed25519.PublicKey{}
	for id, c := range creds {
		keys[id] = c.Public()
	}
	pool := ca.Pool()
	return func(id string) func(*node) (transport, error) {
		return func(n *node) (transport, error) {
			return startPeerTransport(n, n.cfg.Peer, pool, creds[n.id], keys, logger)
		}
	}, nil
}

// memTransports connects nodes of one process in memory (tests).
func memTransports() func(id string) func(*node) (transport, error) {
	h := newHub()
	return func(id string) func(*node) (transport, error) {
		return func(n *node) (transport, error) { return h.join(n.id, n.deliver), nil }
	}
}

var errNoCredentials = errors.New("a cluster of several nodes needs ca_cert, cert, cert_key and key (see havend init)")

// peerTransportFor builds a separate process's peer transport from the
// files its config names.
func peerTransportFor(cfg *Config, logger *slog.Logger) (func(*node) (transport, error), error) {
	if cfg.CACert == "" || cfg.Cert == "" || cfg.CertKey == "" {
		if len(cfg.Peers) == 1 && cfg.Peers[0].ID == cfg.ID {
			// A cluster of one needs no peers until one is added; such a
			// cluster must be started with credentials to grow.
			return func(*node) (transport, error) { return nullTransport{}, nil }, nil
		}
		return nil, errNoCredentials
	}
	caPEM, err := os.ReadFile(cfg.CACert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s holds no certificate", cfg.CACert)
	}
	cert, err := tls.LoadX509KeyPair(cfg.Cert, cfg.CertKey)
	if err != nil {
		return nil, err
	}
	keyPath := cfg.Key
	if keyPath == "" {
		keyPath = filepath.Join(cfg.DataDir, "sign.key")
	}
	sign, err := signingKey(keyPath)
	if err != nil {
		return nil, err
	}
	keys := map[raft.NodeID]ed25519.PublicKey{mustID(cfg.ID): sign.Public().(ed25519.PublicKey)}
	if cfg.KeysDir != "" {
		files, err := filepath.Glob(filepath.Join(cfg.KeysDir, "*.pub"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			id, err := netproto.ParseNodeID(strings.TrimSuffix(filepath.Base(f), ".pub"))
			if err != nil {
				continue
			}
			if keys[id], err = peer.LoadPublicKey(f); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range cfg.Peers {
		if p.Key == "" {
			continue
		}
		k, err := peer.LoadPublicKey(p.Key)
		if err != nil {
			return nil, err
		}
		keys[mustID(p.ID)] = k
	}
	creds := &peer.Node{ID: mustID(cfg.ID), TLS: cert, Key: sign}
	return func(n *node) (transport, error) {
		return startPeerTransport(n, cfg.Peer, pool, creds, keys, logger)
	}, nil
}

// nullTransport serves a cluster of one.
type nullTransport struct{}

func (nullTransport) Send([]session.PeerMessage)  {}
func (nullTransport) SetPeer(raft.NodeID, string) {}
func (nullTransport) Close() error                { return nil }
