package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/netproto"
	"github.com/havenproject/haven/netproto/client"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// peerBook is a transport that only records the peer addresses set.
type peerBook map[raft.NodeID]string

func (peerBook) Send([]session.PeerMessage)               {}
func (b peerBook) SetPeer(id raft.NodeID, address string) { b[id] = address }
func (peerBook) Close() error                             { return nil }

// A member added back with `become learner` (whose address is its Haven
// address, PROTOCOL.md) keeps the peer and HTTP addresses this node's
// config file names for that id at that Haven address: an operator who
// routes a peer link through a proxy, a NAT or another interface does not
// lose the route when the member is removed and added again. An id the
// config does not name, or names at another Haven address, gets the port
// layout's addresses.
func TestLearnerAddressesFromTheConfigFile(t *testing.T) {
	cfg := defaultConfig()
	cfg.ID, cfg.Haven, cfg.Peer, cfg.DataDir = "n1", "127.0.0.1:7401", "127.0.0.1:9101", t.TempDir()
	cfg.Peers = []PeerConfig{
		{ID: "n1", Haven: "127.0.0.1:7401"},
		{ID: "n2", Haven: "127.0.0.1:7402", Peer: "127.0.0.1:9102"},
		{ID: "n3", Haven: "127.0.0.1:7403", HTTP: "127.0.0.1:9083", Peer: "127.0.0.1:9103"},
	}
	require.NoError(t, cfg.resolve())
	dir, err := openDataDir(cfg.DataDir)
	require.NoError(t, err)
	defer dir.close()
	tr := peerBook{}
	n := &node{id: 1, name: "n1", cfg: &cfg, dir: dir, tr: tr, members: map[raft.NodeID]memberAddrs{},
		gone: map[raft.NodeID]memberAddrs{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, p := range cfg.Peers {
		n.members[mustID(p.ID)] = memberAddrs{Haven: p.Haven, HTTP: p.HTTP, Peer: p.Peer}
	}
	index := uint64(0)
	change := func(typ raft.ConfChangeType, id raft.NodeID, haven string) {
		index++
		e := raft.Entry{Index: index, Term: 1, Type: raft.EntryConfChange,
			Data: raft.ConfChange{Type: typ, Node: id, Context: []byte(haven)}.Marshal()}
		n.noteConfChange(&e, false)
		n.noteConfChange(&e, true)
	}

	for _, tc := range []struct {
		name  string
		id    raft.NodeID
		haven string
		want  memberAddrs
	}{
		{"named with its peer address", 2, "127.0.0.1:7402",
			memberAddrs{Haven: "127.0.0.1:7402", HTTP: "127.0.0.1:7482", Peer: "127.0.0.1:9102"}},
		{"named with all its addresses", 3, "127.0.0.1:7403",
			memberAddrs{Haven: "127.0.0.1:7403", HTTP: "127.0.0.1:9083", Peer: "127.0.0.1:9103"}},
		{"named at another Haven address: moved, so the layout", 3, "10.0.0.3:7403",
			memberAddrs{Haven: "10.0.0.3:7403", HTTP: "10.0.0.3:7483", Peer: "10.0.0.3:7503"}},
		{"not named: the layout", 4, "127.0.0.1:7404",
			memberAddrs{Haven: "127.0.0.1:7404", HTTP: "127.0.0.1:7484", Peer: "127.0.0.1:7504"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, known := tr[tc.id]
			_, member := n.members[tc.id]
			change(raft.RemoveNode, tc.id, "")
			require.NotContains(t, n.members, tc.id)
			saved, err := dir.loadMembers()
			require.NoError(t, err)
			if member {
				require.Equal(t, index, saved[netproto.FormatNodeID(tc.id)].Removed, "marked removed in the address book on disk")
			} else {
				require.NotContains(t, saved, netproto.FormatNodeID(tc.id))
			}
			// The transport keeps the address it had: the removed node may
			// still ask for votes, and must be told it is no member.
			after, still := tr[tc.id]
			require.Equal(t, known, still)
			require.Equal(t, before, after, "the transport can still tell it it was removed")
			change(raft.AddLearner, tc.id, tc.haven)
			require.Equal(t, tc.want, n.members[tc.id])
			require.Equal(t, tc.want.Peer, tr[tc.id], "the transport reaches it there")
			saved, err = dir.loadMembers()
			require.NoError(t, err)
			require.Equal(t, tc.want, saved[netproto.FormatNodeID(tc.id)], "the address book on disk: a member again")
		})
	}

	// This node's own entry, added back under its id: its own addresses.
	change(raft.AddLearner, 1, "127.0.0.1:7401")
	require.Equal(t, memberAddrs{Haven: "127.0.0.1:7401", HTTP: "127.0.0.1:7481", Peer: "127.0.0.1:9101"}, n.members[1])
	require.NotContains(t, tr, raft.NodeID(1), "no peer link to itself")
}

// A member removed while this node runs is told it is no member when it
// next asks for votes or forwards a read index (raft's MsgRemoved), and
// the transport must reach it for that, after this node restarts too. A
// founder's address is in the config file; a member added later has its
// address only in its ConfChange, which compaction drops, and in the
// address book on disk, which keeps it, marked removed, until it is added
// back (at most maxGone of them, the latest).
func TestRemovedMemberCanBeToldAfterARestart(t *testing.T) {
	cfg := defaultConfig()
	cfg.ID, cfg.Haven, cfg.DataDir = "n1", "127.0.0.1:7401", t.TempDir()
	cfg.Peers = []PeerConfig{{ID: "n1", Haven: "127.0.0.1:7401"}, {ID: "n2", Haven: "127.0.0.1:7402"}}
	require.NoError(t, cfg.resolve())
	index := uint64(10)
	start := func() (*node, peerBook, func()) {
		dir, err := openDataDir(cfg.DataDir)
		require.NoError(t, err)
		n := &node{id: 1, name: "n1", cfg: &cfg, dir: dir, members: map[raft.NodeID]memberAddrs{},
			gone: map[raft.NodeID]memberAddrs{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		_, err = n.loadAddressBook()
		require.NoError(t, err)
		tr := peerBook{}
		n.setPeers(tr)
		return n, tr, func() { dir.close() }
	}
	change := func(n *node, typ raft.ConfChangeType, id raft.NodeID, haven string) {
		index++
		e := raft.Entry{Index: index, Term: 1, Type: raft.EntryConfChange,
			Data: raft.ConfChange{Type: typ, Node: id, Context: []byte(haven)}.Marshal()}
		n.noteConfChange(&e, true)
	}

	n, tr, stop := start()
	change(n, raft.AddLearner, 4, "127.0.0.1:7404")
	require.Equal(t, "127.0.0.1:7504", tr[4])
	change(n, raft.RemoveNode, 4, "")
	change(n, raft.RemoveNode, 2, "")
	stop()

	n, tr, stop = start()
	require.NotContains(t, n.members, raft.NodeID(4), "no member after the restart")
	require.Equal(t, "127.0.0.1:7504", tr[4], "the transport can still tell it it was removed")
	require.Equal(t, "127.0.0.1:7502", tr[2], "a founder: from the config file")
	change(n, raft.AddLearner, 4, "127.0.0.1:7404")
	require.Contains(t, n.members, raft.NodeID(4))
	require.NotContains(t, n.gone, raft.NodeID(4), "a member again")
	for id := raft.NodeID(100); id < 100+maxGone+5; id++ {
		change(n, raft.AddLearner, id, "127.0.0.1:7404")
		change(n, raft.RemoveNode, id, "")
	}
	require.Len(t, n.gone, maxGone)
	require.NotContains(t, n.gone, raft.NodeID(100), "the oldest removals are forgotten")
	require.Contains(t, n.gone, raft.NodeID(100+maxGone+4))
	stop()

	n, _, stop = start()
	defer stop()
	require.Len(t, n.gone, maxGone, "as the book on disk says")
	require.Contains(t, n.members, raft.NodeID(4))
}

// A node started with an empty data dir under an id a member still lists
// as a voter refuses to run (TestLostDataDirCannotRejoinUnderItsID), but
// only once the most advanced member it reaches says so: a member that
// lags behind the id's removal (cut off from the leader when it
// committed) still lists it, and one such view must not turn away a node
// removed, emptied and started again, which is how a node rejoins under
// its id. The node asks again until the laggards learn of the removal.
func TestMembershipAskedOfTheMostAdvancedMember(t *testing.T) {
	type view struct {
		commit uint64
		voter  bool // whether the member lists n3 as a voter
	}
	serve := func(t *testing.T, views func() view) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v := views()
			st := statusJSON{Commit: v.commit, Members: []client.MemberStatus{{ID: "n1", Role: "voter"}, {ID: "n2", Role: "voter"}}}
			if v.voter {
				st.Members = append(st.Members, client.MemberStatus{ID: "n3", Role: "voter"})
			}
			require.NoError(t, json.NewEncoder(w).Encode(st))
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	newNode := func(http1, http2 string) *node {
		return &node{id: 3, name: "n3", log: slog.New(slog.NewTextHandler(io.Discard, nil)), members: map[raft.NodeID]memberAddrs{
			1: {HTTP: http1}, 2: {HTTP: http2}, 3: {HTTP: "127.0.0.1:1"},
		}}
	}

	t.Run("a laggard's view waits for it to catch up", func(t *testing.T) {
		var asked atomic.Int32
		leader := serve(t, func() view { return view{commit: 40} })
		laggard := serve(t, func() view {
			if asked.Add(1) <= 3 {
				return view{commit: 30, voter: true}
			}
			return view{commit: 41}
		})
		require.Empty(t, newNode(leader, laggard).askMembership(10*time.Second))
		require.Greater(t, asked.Load(), int32(3), "asked again")
	})
	t.Run("the most advanced member's view refuses at once", func(t *testing.T) {
		leader := serve(t, func() view { return view{commit: 40, voter: true} })
		other := serve(t, func() view { return view{commit: 30} })
		start := time.Now()
		require.Equal(t, "n1", newNode(leader, other).askMembership(10*time.Second))
		require.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("a laggard that never catches up refuses in the end", func(t *testing.T) {
		leader := serve(t, func() view { return view{commit: 40} })
		laggard := serve(t, func() view { return view{commit: 30, voter: true} })
		require.Equal(t, "n2", newNode(leader, laggard).askMembership(time.Second))
	})
}
