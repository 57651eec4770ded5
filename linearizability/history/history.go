// Package history is the one history format of a Haven run — simulated or
// recorded from real processes — and the checkers that read it. A history
// is a sequence of records, written and read as JSON lines, one record a
// line with exactly one field set:
//
//   - entry: an entry of the committed log (index, term, data);
//   - op: a client operation on the lists with its call and return times
//     and outcome (linearizability.ListsInput and ListsOutput);
//   - watch: a watch registration; delivery: a watch event delivered;
//   - ping: a session's ping, when it was sent, and its answer;
//   - session: a session opened or ended, with its ttl;
//   - expiry: a leader's decision to expire a session: when it proposed the
//     end and the index that committed it.
//
// Times are nanoseconds on the recorder's clock (virtual time in the
// simulator). The checkers take a history and their bounds as parameters,
// so the simulator and a test of a real cluster run the same code.
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
}

// Op is one client operation on the lists.
type Op struct {
	Client int                          `json:"client"`
	Call   int64                        `json:"call"`
	Return int64                        `json:"return"` // -1: the outcome never came back
	Input  linearizability.ListsInput   `json:"input"`
	Output *linearizability.ListsOutput `json:"output,omitempty"`
}

// Watch is a watch registration.
type Watch struct {
	Client int    `json:"client"`
	Conn   uint64 `json:"conn"`
	Path   string `json:"path"`
	At     int64  `json:"at"`
	// Version is the list version the registration was answered with;
	// Since, when set, the version it resumed after.
	Version uint64  `json:"version"`
	Since   *uint64 `json:"since,omitempty"`
	Reset   bool    `json:"reset,omitempty"`
}

// Delivery is one watch event a client received.
type Delivery struct {
	Client  int    `json:"client"`
	Conn    uint64 `json:"conn"`
	Path    string `json:"path"`
	At      int64  `json:"at"`
	Kind    string `json:"kind"`
	Version uint64 `json:"version"`
	Item    uint64 `json:"item"`
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
