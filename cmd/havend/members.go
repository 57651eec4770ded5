package main

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/havenproject/haven/netproto"
	"github.com/havenproject/haven/raft"
)

// The node's address book: every member's Haven, HTTP and peer address.
// The Haven addresses are replicated (raft's ConfState.Addresses); the
// others follow the port layout unless the config file names them.

// addrsOf is the address book's entry for member id at Haven address
// haven (the address `become learner` gives, PROTOCOL.md): the HTTP and
// peer addresses this node's config file names for that id at that Haven
// address, else the port layout's. The config wins because only the
// operator of this node knows how it reaches the others: a peer link
// through a proxy, a NAT or another interface must survive the member's
// being removed and added back under its id (docs/decisions.md). A config
// entry at another Haven address is stale (the member moved), so it is
// passed over.
func (n *node) addrsOf(id raft.NodeID, haven string) memberAddrs {
	if cfg := n.cfg; cfg != nil {
		if id == n.id && haven == cfg.Haven {
			return memberAddrs{Haven: haven, HTTP: cfg.HTTP, Peer: cfg.Peer}
		}
		for _, p := range cfg.Peers {
			if pid, err := netproto.ParseNodeID(p.ID); err == nil && pid == id && p.Haven == haven {
				return memberAddrs{Haven: haven, HTTP: p.HTTP, Peer: p.Peer}
			}
		}
	}
	a := memberAddrs{Haven: haven}
	a.HTTP, _ = offsetPort(haven, 80)
	a.Peer, _ = offsetPort(haven, 100)
	return a
}

// noteConfChange keeps the address book and the transport's peers in
// step with the membership: a learner's Haven address is in its
// ConfChange, its other addresses are addrsOf's.
func (n *node) noteConfChange(e *raft.Entry, committed bool) {
	if e.Type != raft.EntryConfChange {
		return
	}
	cc, err := raft.UnmarshalConfChange(e.Data)
	if err != nil {
		return
	}
	changed := false
	switch cc.Type {
	case raft.AddLearner:
		if len(cc.Context) == 0 {
			return
		}
		a := n.addrsOf(cc.Node, string(cc.Context))
		if _, ok := n.gone[cc.Node]; ok {
			delete(n.gone, cc.Node)
			changed = true
		}
		if old, ok := n.members[cc.Node]; !ok || old != a {
			n.members[cc.Node] = a
			changed = true
			if n.tr != nil && cc.Node != n.id {
				n.tr.SetPeer(cc.Node, a.Peer)
			}
		}
	case raft.RemoveNode:
		if committed {
			// The transport keeps the removed node's address: raft sends
			// it nothing more, unless it asks for votes or forwards its
			// clients' requests, never having heard of its removal, and
			// is told (MsgRemoved). A peer costs nothing while nothing is sent
			// to it. The address book keeps it too, marked removed, so
			// that this node can still tell it after a restart.
			if a, ok := n.members[cc.Node]; ok {
				delete(n.members, cc.Node)
				if cc.Node != n.id {
					a.Removed = e.Index
					n.gone[cc.Node] = a
					n.forgetOldestGone()
				}
				changed = true
			}
			if cc.Node == n.id {
				n.log.Warn("this node was removed from the cluster")
			}
		}
	}
	if changed {
		n.saveAddressBook()
	}
}

// maxGone is how many removed members the address book remembers: the
// latest, by the index of their removal. One that was removed long ago
// has long asked for votes and been told, or been stopped.
const maxGone = 32

func (n *node) forgetOldestGone() {
	for len(n.gone) > maxGone {
		oldest := raft.None
		for id, a := range n.gone {
			if oldest == raft.None || a.Removed < n.gone[oldest].Removed {
				oldest = id
			}
		}
		delete(n.gone, oldest)
	}
}

// saveAddressBook writes the members and the members removed to the data
// dir.
func (n *node) saveAddressBook() {
	book := map[string]memberAddrs{}
	for id, a := range n.gone {
		book[netproto.FormatNodeID(id)] = a
	}
	for id, a := range n.members {
		book[netproto.FormatNodeID(id)] = a
	}
	if err := n.dir.saveMembers(book); err != nil {
		n.log.Warn("saving the address book", "err", err)
	}
}

// loadAddressBook fills the address book from the data dir, then puts the
// configured initial members over it, and returns those (the voters of a
// new cluster).
func (n *node) loadAddressBook() ([]raft.NodeID, error) {
	saved, err := n.dir.loadMembers()
	if err != nil {
		return nil, err
	}
	for name, a := range saved {
		id, err := netproto.ParseNodeID(name)
		if err != nil {
			continue
		}
		if a.Removed > 0 {
			n.gone[id] = a
		} else {
			n.members[id] = a
		}
	}
	var voters []raft.NodeID
	for _, p := range n.cfg.Peers {
		id := mustID(p.ID)
		n.members[id] = memberAddrs{Haven: p.Haven, HTTP: p.HTTP, Peer: p.Peer}
		delete(n.gone, id)
		voters = append(voters, id)
	}
	return voters, nil
}

// noteRemoved logs it, once, when a member tells this node that it is no
// member of the cluster (raft's MsgRemoved: the node asked for votes, or
// forwarded a read, a write or a keepalive, having never heard of its
// removal), and when a later configuration ends that.
func (n *node) noteRemoved() {
	at := n.core.Raft().RemovedAt()
	if at == n.removedAt {
		return
	}
	if at > 0 {
		n.log.Warn("this node was removed from the cluster: a member says it is no member as of index "+strconv.FormatUint(at, 10)+
			"; it no longer campaigns. Stop it; to bring it back, empty its data dir and add it under a new id (haven become learner)", "index", at)
	} else {
		n.log.Info("this node is a member again: a leader sent it a later configuration")
	}
	n.removedAt = at
}

// publishStatus copies the core's status out for other goroutines, at
// most every 2 ms unless forced.
func (n *node) publishStatus(force bool) {
	now := time.Now()
	if !force && now.Sub(n.statusAt) < 2*time.Millisecond {
		return
	}
	n.statusAt = now
	st := n.core.Status()
	addrs := make(map[raft.NodeID]memberAddrs, len(n.members))
	for id, a := range n.members {
		addrs[id] = a
	}
	// The members' Haven addresses are in the replicated configuration;
	// their HTTP and peer addresses follow the port layout unless the
	// config file said otherwise (addrsOf).
	for i := range st.Members {
		m := &st.Members[i]
		a, known := addrs[m.ID]
		if m.Address == "" {
			m.Address = a.Haven
		} else if !known || a.Haven != m.Address {
			a = n.addrsOf(m.ID, m.Address)
			addrs[m.ID], n.members[m.ID] = a, a
			if n.tr != nil && m.ID != n.id {
				n.tr.SetPeer(m.ID, a.Peer)
			}
		}
	}
	if lead := n.core.Leader(); lead != raft.None && st.LeaderAddress == "" {
		st.LeaderAddress = addrs[lead].Haven
	}
	n.status.Store(&hostStatus{Status: st, addrs: addrs})
	n.m.observeStatus(&st)
}

// askMembership asks the other known members' /v1/status whether this
// node's id is a voter in their configuration, and returns one that says
// so, or "". (Only a voter can have voted; a learner may well be added
// while it starts.) Members that do not answer in time are passed over:
// the check guards against a mistake, it cannot prove one absent.
//
// A member that lags behind the id's removal (cut off from the leader
// when it committed) still lists it as a voter, and one such view must not
// turn away a node that was removed, emptied and started again, the way to
// rejoin under the same id. So the answer of the most advanced member
// reached (the highest commit index) refuses at once; one that only
// members behind it give is asked again, for up to wait, until they learn
// of the removal.
func (n *node) askMembership(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for logged := false; ; logged = true {
		by, behind := n.askMembershipOnce()
		if by == "" || !behind || !time.Now().Before(deadline) {
			return by
		}
		if !logged {
			n.log.Info("a member behind the others still lists this id as a voter; asking again until it learns of the removal",
				"member", by, "for", wait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// membershipWait bounds how long askMembership waits for members that lag.
const membershipWait = 30 * time.Second

// askMembershipOnce asks every other known member once. It returns one
// that lists this id as a voter, and whether every member that does is
// behind (a lower commit index than) another that answered.
func (n *node) askMembershipOnce() (by string, behind bool) {
	hc := http.Client{Timeout: time.Second}
	var top, listerCommit uint64 // the highest commit index heard, and a lister's
	lister := raft.None
	for _, id := range slices.Sorted(maps.Keys(n.members)) {
		a := n.members[id]
		if id == n.id || a.HTTP == "" {
			continue
		}
		resp, err := hc.Get("http://" + a.HTTP + "/v1/status")
		if err != nil {
			continue
		}
		var st statusJSON
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			continue
		}
		top = max(top, st.Commit)
		for _, m := range st.Members {
			if m.ID == n.name && m.Role == "voter" && (lister == raft.None || st.Commit > listerCommit) {
				lister, listerCommit = id, st.Commit
			}
		}
	}
	if lister == raft.None {
		return "", false
	}
	return netproto.FormatNodeID(lister), listerCommit < top
}
