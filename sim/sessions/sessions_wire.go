package sessions

import (
	"strconv"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// What the sessions workload's clients and the nodes' service cores say to
// each other. A client talks to a node over a connection, as over TCP:
// messages each way arrive in the order they were sent (sessConn keeps the
// order), a connection dies with the node's process, and either side may
// hang up. A client sends a *sim.ConnRequest (the engine's host reads it
// and hands it to the core); the node's answers come back as a connReply.

// connReply is what a node sends a client over a connection: an answer, a
// watch event, or news that the connection broke.
type connReply struct {
	conn  session.ConnID
	reply *session.Reply
	event *fsm.Event
	// broken says the connection is gone: the node's process crashed, or a
	// restarted node does not know it.
	broken bool
}

// sessConn is one connection, as both ends see it.
type sessConn struct {
	id     session.ConnID
	client int
	node   raft.NodeID
	// closed: the client hung up, was told the connection broke, or the
	// node closed it after a close; nothing more goes over it.
	closed bool
	// upAt and downAt are when the last message each way arrives: the next
	// one arrives no earlier, so the connection keeps its order.
	upAt, downAt time.Duration
	// seen is, per list, the highest version this connection has shown the
	// client (in answers and events): a stale read on it must show no
	// older version (PROTOCOL.md, "Reads").
	seen map[string]uint64
	// before is, per list, the highest version the client had seen when
	// it opened the connection, which it named (as one `seen`) on connect:
	// a stale read on it must show no older version either.
	before map[string]uint64
	named  uint64
	// sess is the session the connection speaks for, once connected.
	sess *sessRecord
}

// AppendTrace appends the reply as the trace shows it (sim.Traceable).
func (r *connReply) AppendTrace(b []byte) []byte {
	b = append(b, "conn="...)
	b = strconv.AppendUint(b, uint64(r.conn), 10)
	switch {
	case r.broken:
		b = append(b, " broken"...)
	case r.event != nil:
		b = append(b, " event "...)
		b = append(b, r.event.Kind...)
		b = append(b, ' ')
		b = append(b, r.event.Path...)
		b = append(b, " v="...)
		b = strconv.AppendUint(b, r.event.Version, 10)
		b = append(b, " item="...)
		b = strconv.AppendUint(b, r.event.Item.Version, 10)
	case r.reply != nil:
		b = append(b, ' ')
		b = append(b, r.reply.Op.String()...)
		b = append(b, " id="...)
		b = strconv.AppendUint(b, r.reply.ID, 10)
		b = append(b, ' ')
		b = append(b, r.reply.Code...)
		if r.reply.Version != 0 {
			b = append(b, " v="...)
			b = strconv.AppendUint(b, r.reply.Version, 10)
		}
		if r.reply.Session != "" {
			b = append(b, " session="...)
			b = append(b, r.reply.Session...)
		}
		if r.reply.Reset {
			b = append(b, " reset"...)
		}
	}
	return b
}
