package main

import (
	"errors"
	"log/slog"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// devTransports gives each -dev node its peer transport.
func devTransports(dir string, peers []PeerConfig, logger *slog.Logger) (func(id string) func(*node) (transport, error), error) {
	h := newHub()
	return func(id string) func(*node) (transport, error) {
		return func(n *node) (transport, error) {
			return h.join(n.id, n.deliver), nil
		}
	}, nil
}

var errNoPeerTransport = errors.New("a cluster of separate processes needs the HTTPS peer transport (netproto/peer), not in this build yet")

// peerTransportFor builds a separate process's peer transport.
func peerTransportFor(cfg *Config, logger *slog.Logger) (func(*node) (transport, error), error) {
	return func(n *node) (transport, error) {
		if len(cfg.Peers) == 1 && cfg.Peers[0].ID == cfg.ID {
			return nullTransport{}, nil
		}
		return nil, errNoPeerTransport
	}, nil
}

// nullTransport serves a cluster of one.
type nullTransport struct{}

func (nullTransport) Send([]session.PeerMessage)  {}
func (nullTransport) SetPeer(raft.NodeID, string) {}
func (nullTransport) Close() error                { return nil }
