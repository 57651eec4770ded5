package main

import (
	"sync"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// hub connects the nodes of one process in memory: a stand-in for the
// HTTPS peer transport where none is configured. Delivery is a
// non-blocking hand-off into the receiving node's queue.
type hub struct {
	mu    sync.RWMutex
	nodes map[raft.NodeID]func([]session.PeerMessage)
}

func newHub() *hub { return &hub{nodes: map[raft.NodeID]func([]session.PeerMessage){}} }

func (h *hub) join(id raft.NodeID, deliver func([]session.PeerMessage)) *hubPort {
	h.mu.Lock()
	h.nodes[id] = deliver
	h.mu.Unlock()
	return &hubPort{h: h, id: id}
}

type hubPort struct {
	h  *hub
	id raft.NodeID
}

func (p *hubPort) Send(msgs []session.PeerMessage) {
	byDest := map[raft.NodeID][]session.PeerMessage{}
	for _, m := range msgs {
		byDest[m.To] = append(byDest[m.To], m)
	}
	p.h.mu.RLock()
	defer p.h.mu.RUnlock()
	for to, batch := range byDest {
		if deliver := p.h.nodes[to]; deliver != nil {
			deliver(batch)
		}
	}
}

func (p *hubPort) SetPeer(raft.NodeID, string) {}

func (p *hubPort) Close() error {
	p.h.mu.Lock()
	delete(p.h.nodes, p.id)
	p.h.mu.Unlock()
	return nil
}
