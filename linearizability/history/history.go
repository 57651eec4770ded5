// Package history is the one history format of a Haven run — simulated or
// recorded from real processes — and the checkers that read it. A history
// is a sequence of records, written and read as JSON lines, one record a
// line with exactly one field set:
//
//   - entry: an entry of the committed log (index, term, data), in index
//     order, with when the recorder first knew it committed;
//   - op: a client operation on the lists with its call and return times
//     and outcome (linearizability.ListsInput and ListsOutput); Return -1
//     and no output when the client never learned it;
//   - watch: a watch registration answered OK (path, the list version
//     answered, the `since` asked, whether the server answered reset), or,
//     with stop set, the end of one (unwatched, or its connection gone);
//   - delivery: a watch event a client received, on which connection;
//   - ping: a session's ping, when it was sent, and its answer;
//   - session: a session opened or ended, with its ttl and the times the
//     open and the end committed;
//   - expiry: a leader's decision to expire a session: when it proposed the
//     end and the index that committed it.
//
// Times are nanoseconds on the recorder's clock (virtual time in the
// simulator). Watch and delivery records are replayed in the order they
// were recorded, so a recorder writes them in the order they happened.
//
// # The checkers
//
// Each takes a history and its bounds as parameters and nothing else, so
// the simulator and a test of a real cluster run the same code:
//
//   - [CheckWatches], the watch checker ([Watches]; PROTOCOL.md,
//     "Watches"): every event a client gets is the next change to its
//     list in the committed log after where its stream started or its
//     last event, not before its entry committed; every stream still open
//     at the end got every change before its session ended.
//   - [CheckNoFalseExpiry] ([FalseExpiry], [ExpiryBounds]): no session is
//     expired by a leader that had heard it within its ttl, less the slack
//     of drift and ticks.
//   - [CheckDeadSessions] ([DeadSession], [DeadSessionBounds]): a session
//     nothing keeps alive ends within ttl·(1+drift) plus ticks, a commit
//     and a message delay.
//   - [ListsHistory], the lists history builder: the operations made into
//     the history linearizability.ListsModel checks, every unknown outcome
//     resolved from the committed log, every expiry an EndSession, and
//     every answer checked against the log on the way;
//     [ListsHistoryOfPrefix] the same for a log known only up to a gap,
//     judging by the log only what it holds.
//
// The check functions over a whole history are built on per-step ones
// ([Watches] fed record by record, [FalseExpiry], [DeadSession]) that a
// host can call online, as the simulator does: it keeps its own state (who
// listens, what a node heard when), feeds them as the run goes, and so
// fails a seed at the step that breaks a rule; its written history
// re-checks to the same verdict. The package imports fsm, the pure state
// machine, to apply the committed log.
package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/havenproject/haven/linearizability"
)

// Record is one line of a history.
type Record struct {
	Entry    *Entry    `json:"entry,omitempty"`
	Op       *Op       `json:"op,omitempty"`
	Watch    *Watch    `json:"watch,omitempty"`
	Delivery *Delivery `json:"delivery,omitempty"`
	Ping     *Ping     `json:"ping,omitempty"`
	Session  *Session  `json:"session,omitempty"`
	Expiry   *Expiry   `json:"expiry,omitempty"`
}

// Entry is one entry of the committed log.
type Entry struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	Type  string `json:"type,omitempty"` // "normal" (default) or "confchange"
	Data  []byte `json:"data,omitempty"`
	// At is when the recorder first knew the entry committed (0: not
	// recorded). The watch checker holds deliveries to it; the lists
	// history builder ends an expiry's EndSession there.
	At int64 `json:"at,omitempty"`
}

// Op is one client operation on the lists.
type Op struct {
	Client int                          `json:"client"`
	Call   int64                        `json:"call"`
	Return int64                        `json:"return"` // -1: the outcome never came back
	Input  linearizability.ListsInput   `json:"input"`
	Output *linearizability.ListsOutput `json:"output,omitempty"`
	// NotApplied, for an operation without an outcome (Return -1, no
	// Output), is the message of an answer that said the write certainly
	// had no effect (Unavailable "nothing was applied"): the committed log
	// must not have it.
	NotApplied string `json:"not_applied,omitempty"`
}

// Watch is a watch registration answered OK, or, with Stop set, the end
// of one: the client stopped listening to the path (it unwatched, or the
// connection the watch was registered on closed or broke).
type Watch struct {
	Client int    `json:"client"`
	Conn   uint64 `json:"conn"`
	// Session is the session the connection speaks for ("" if not
	// recorded): events are due until its end.
	Session string `json:"session,omitempty"`
	Path    string `json:"path"`
	At      int64  `json:"at"`
	// Version is the list version the registration was answered with;
	// Since, when set, the version the client asked to resume after; Reset
	// that the server answered reset instead (the events after since are
	// gone: the stream starts after Version).
	Version uint64  `json:"version"`
	Since   *uint64 `json:"since,omitempty"`
	Reset   bool    `json:"reset,omitempty"`
	Stop    bool    `json:"stop,omitempty"`
}

// Delivery is one watch event a client received, on the connection Conn:
// the change of list Path made by the entry at index Version.
type Delivery struct {
	Client  int    `json:"client"`
	Conn    uint64 `json:"conn"`
	Path    string `json:"path"`
	At      int64  `json:"at"`
	Kind    string `json:"kind"`
	Version uint64 `json:"version"`
	Item    uint64 `json:"item"`
	// Owner, Modified and Data are the rest of the item as delivered. A
	// recorder that leaves Owner empty records the item's version only,
	// and only that is compared.
	Owner    string `json:"owner,omitempty"`
	Modified uint64 `json:"modified,omitempty"`
	Data     []byte `json:"data,omitempty"`
}

// Ping is one ping of a session and its answer ("ok", or the error code;
// "" if none came).
type Ping struct {
	Client  int    `json:"client"`
	Session string `json:"session"`
	Sent    int64  `json:"sent"`
	Answer  string `json:"answer"`
	At      int64  `json:"at,omitempty"`
}

// Session is a session opened or ended in the committed log.
type Session struct {
	ID      string `json:"id"`
	Client  int    `json:"client"`
	TTLms   uint64 `json:"ttl_ms"`
	Opened  uint64 `json:"opened"`          // the index that opened it
	Ended   uint64 `json:"ended,omitempty"` // the index that ended it
	Expired bool   `json:"expired,omitempty"`
	// OpenedAt and EndedAt are when the recorder first knew the open and
	// the end committed (0: not recorded).
	OpenedAt int64 `json:"opened_at,omitempty"`
	EndedAt  int64 `json:"ended_at,omitempty"`
}

// Expiry is a leader's decision to expire a session: it proposed the end
// at ProposedAt (its decision time), committed at Index.
type Expiry struct {
	Session    string `json:"session"`
	TTLms      uint64 `json:"ttl_ms"`
	Index      uint64 `json:"index"`
	ProposedAt int64  `json:"proposed_at"`
}

// Writer writes a history as JSON lines.
type Writer struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewWriter returns a Writer on w; call Flush at the end.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriter(w)
	return &Writer{w: bw, enc: json.NewEncoder(bw)}
}

// Write appends one record.
func (w *Writer) Write(r Record) error { return w.enc.Encode(r) }

// Flush writes out what is buffered.
func (w *Writer) Flush() error { return w.w.Flush() }

// Read reads a whole history written by Writer.
func Read(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return out, fmt.Errorf("history: line %d: %w", line, err)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}
