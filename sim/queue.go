package sim

import "time"

// eventKind says what an event does when its time comes.
type eventKind uint8

const (
	evTick             eventKind = iota + 1 // a node's clock ticks
	evDeliver                               // a raft message arrives (ref: message slot)
	evFsync                                 // a node's fsync completes (aux: sync generation)
	evToNode                                // a client request arrives at a node (ref: rpc slot)
	evToClient                              // a reply arrives at a client (ref: rpc slot)
	evClientWake                            // a client's timer fires (aux: token)
	evFault                                 // a scheduled fault starts (ref: schedule index)
	evFaultStep                             // a running fault moves on (ref: schedule index, aux: step)
	evRestart                               // a crashed node restarts (aux: incarnation)
	evResume                                // a paused node resumes (aux: pause generation)
	evHeal                                  // the fault phase ends
	evLivenessDeadline                      // the liveness bound expires
	evSettleDeadline                        // the settling bound expires
	evMembership                            // a membership change is due
	evTransfer                              // a leadership transfer is due
	evRetire                                // a removed node shuts down (aux: its id)
	evIsolate                               // a node is cut off (membership.go)
	evHealPartition                         // the partition of generation aux ends
	numEventKinds
)

var eventKindNames = [numEventKinds]string{
	evTick: "tick", evDeliver: "deliver", evFsync: "fsync", evToNode: "request",
	evToClient: "reply", evClientWake: "wake", evFault: "fault", evFaultStep: "fault-step",
	evRestart: "restart", evResume: "resume", evHeal: "heal",
	evLivenessDeadline: "liveness-deadline", evSettleDeadline: "settle-deadline",
	evMembership: "membership", evTransfer: "transfer", evRetire: "retire", evIsolate: "isolate", evHealPartition: "heal-partition",
}

func (k eventKind) String() string {
	if k < numEventKinds && eventKindNames[k] != "" {
		return eventKindNames[k]
	}
	return "event?"
}

// event is one entry of the queue. It is small and holds no pointers: the
// payloads (messages, client requests) live in slabs and are named by ref,
// so pushing and popping allocate nothing once the slices have grown.
type event struct {
	at   time.Duration
	seq  uint64 // tie-breaker: events at the same time run in the order scheduled
	kind eventKind
	node uint8  // node index, for node events
	gen  uint32 // the node incarnation the event belongs to (stale ones are dropped)
	ref  int32  // slab slot or schedule index
	aux  uint64 // kind-specific
}

// eventQueue is a 4-ary min-heap ordered by (at, seq): virtual time, then
// the order in which events were scheduled. That total order is what makes a
// run a function of its seed. Four children per node make the heap half as
// deep as a binary one, which pays off because every event is popped once.
type eventQueue struct {
	heap []event
	seq  uint64
}

func (q *eventQueue) len() int { return len(q.heap) }

func less(a, b *event) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

func (q *eventQueue) push(e event) {
	q.seq++
	e.seq = q.seq
	q.heap = append(q.heap, e)
	h := q.heap
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 4
		if !less(&e, &h[parent]) {
			break
		}
		h[i] = h[parent]
		i = parent
	}
	h[i] = e
}

func (q *eventQueue) pop() event {
	h := q.heap
	top := h[0]
	last := len(h) - 1
	e := h[last]
	h = h[:last]
	q.heap = q.heap[:last] // slicing itself writes only the length: no write barrier
	if last == 0 {
		return top
	}
	i := 0
	for {
		first := 4*i + 1
		if first >= last {
			break
		}
		smallest := first
		end := min(first+4, last)
		for c := first + 1; c < end; c++ {
			if less(&h[c], &h[smallest]) {
				smallest = c
			}
		}
		if !less(&h[smallest], &e) {
			break
		}
		h[i] = h[smallest]
		i = smallest
	}
	h[i] = e
	return top
}
