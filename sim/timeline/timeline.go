// Package timeline turns a simulator trace into a picture of the run: one
// lane per node showing its role and term over virtual time, its commit
// index, crashes and pauses as shaded bands, faults (partitions, clogs) as
// bands across the lanes, messages as arrows between lanes, client
// operations and their outcomes, and the point where a check failed. The
// picture is one self-contained HTML file (no network), zoomed and
// scrubbed with the mouse; clicking an event shows its trace line.
//
// It reads only the trace the simulator writes (havensim -trace), so it
// shows what the trace says and infers the rest, as a reader of the trace
// would: a node leads from its "leads term" line until it crashes or hears
// a higher term; its term rises with every message it sends or receives at
// a higher term (pre-votes excepted, §9.6); its commit index is the highest
// one it announced as leader or was told by one. Lines of the form
// "# nX state role=R term=T commit=C applied=A", where the simulator writes
// them, replace the inference for that node from then on.
package timeline

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Run is what a trace says about one seed.
type Run struct {
	Title    string
	Nodes    []string  // "n1", "n2", ...
	Duration float64   // seconds of virtual time covered
	Bands    []Band    // per node: leader, down, paused
	Faults   []Fault   // across the lanes
	Terms    []Point   // per node: its term from At on
	Commits  []Point   // per node: its commit index from At on
	Applied  []Point   // per node, where the trace says
	Messages []Message // deliveries
	Ops      []Op      // client requests and replies
	Kinds    []string  // message kinds seen, for the filter
	Failure  *Failure
}

// Band is a span of one node's lane: Kind "leader" (with Term), "down" or
// "paused".
type Band struct {
	Node     int     `json:"n"`
	Kind     string  `json:"k"`
	From     float64 `json:"f"`
	To       float64 `json:"t"`
	Term     uint64  `json:"term,omitempty"`
	TraceRef int     `json:"l"`
}

// Fault is a fault across the cluster from From to To (To = From for an
// instant one), with the trace's description.
type Fault struct {
	From     float64 `json:"f"`
	To       float64 `json:"t"`
	Text     string  `json:"x"`
	TraceRef int     `json:"l"`
}

// Point is a value of a node's from At on.
type Point struct {
	Node  int     `json:"n"`
	At    float64 `json:"a"`
	Value uint64  `json:"v"`
}

// Message is one delivery, drawn as an arrow at the time it arrived.
type Message struct {
	At       float64 `json:"a"`
	From     int     `json:"f"`
	To       int     `json:"t"`
	Kind     int     `json:"k"`
	Term     uint64  `json:"term"`
	TraceRef int     `json:"l"`
}

// Op is a client request arriving at a node, or its reply.
type Op struct {
	At       float64 `json:"a"`
	Node     int     `json:"n"`
	Client   string  `json:"c"`
	Reply    bool    `json:"r"`
	OK       bool    `json:"ok"`
	Text     string  `json:"x"`
	TraceRef int     `json:"l"`
}

// Failure is the violated check: when, and what it said.
type Failure struct {
	At   float64 `json:"a"`
	Text string  `json:"x"`
}

var (
	deliverRe = regexp.MustCompile(`^deliver (\w+) n(\d+)->n(\d+) term=(\d+)(.*)$`)
	commitRe  = regexp.MustCompile(`\bcommit=(\d+)`)
	leadsRe   = regexp.MustCompile(`^n(\d+) leads term (\d+)`)
	crashRe   = regexp.MustCompile(`^n(\d+) crashes .*restarts in (\S+)`)
	pauseRe   = regexp.MustCompile(`^n(\d+) pauses for (\S+)`)
	faultRe   = regexp.MustCompile(`^fault: (.*?)(?: for (\S+))?$`)
	stateRe   = regexp.MustCompile(`^n(\d+) state role=(\w+) term=(\d+) commit=(\d+) applied=(\d+)`)
	nodesRe   = regexp.MustCompile(`^seed (\d+) nodes (\d+)`)
	requestRe = regexp.MustCompile(`^request (c\d+)->n(\d+) (.*)$`)
	replyRe   = regexp.MustCompile(`^reply n(\d+)->(c\d+) (.*)$`)
)

// Parse reads a trace.
func Parse(r io.Reader) (*Run, error) {
	p := parser{run: &Run{}, kinds: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		if err := p.line(line, sc.Text()); err != nil {
			return nil, fmt.Errorf("timeline: trace line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("timeline: reading the trace: %w", err)
	}
	p.finish()
	return p.run, nil
}

// Fail marks where a check failed, at seconds of virtual time, and what it
// said.
func (r *Run) Fail(at float64, text string) {
	r.Failure = &Failure{At: at, Text: text}
	r.Duration = max(r.Duration, at)
}

type parser struct {
	run   *Run
	kinds map[string]int
	now   float64
	// per node, index by node number (1-based; 0 unused)
	leading  map[int]int // node → index in Bands of its open leader band
	term     map[int]uint64
	commit   map[int]uint64
	stated   map[int]bool // the trace gives this node's state: infer nothing
	maxNode  int
	lastTime float64
}

func (p *parser) line(n int, s string) error {
	s = strings.TrimLeft(s, " ")
	sp := strings.IndexByte(s, ' ')
	if sp < 0 {
		return nil
	}
	t, err := strconv.ParseFloat(s[:sp], 64)
	if err != nil {
		return nil // not an event line
	}
	p.now = t
	p.lastTime = max(p.lastTime, t)
	rest := strings.TrimSpace(s[sp+1:])
	if note, ok := strings.CutPrefix(rest, "# "); ok {
		return p.note(n, note)
	}
	if m := deliverRe.FindStringSubmatch(rest); m != nil {
		from, to := atoi(m[2]), atoi(m[3])
		term, _ := strconv.ParseUint(m[4], 10, 64)
		p.message(n, m[1], from, to, term, m[5])
		return nil
	}
	if m := requestRe.FindStringSubmatch(rest); m != nil {
		p.op(n, atoi(m[2]), m[1], false, m[3])
		return nil
	}
	if m := replyRe.FindStringSubmatch(rest); m != nil {
		p.op(n, atoi(m[1]), m[2], true, m[3])
	}
	return nil
}

func (p *parser) note(n int, note string) error {
	switch {
	case nodesRe.MatchString(note):
		m := nodesRe.FindStringSubmatch(note)
		p.run.Title = note
		p.node(atoi(m[2]))
	case stateRe.MatchString(note):
		m := stateRe.FindStringSubmatch(note)
		id := atoi(m[1])
		p.node(id)
		p.stated[id] = true
		term, _ := strconv.ParseUint(m[3], 10, 64)
		commit, _ := strconv.ParseUint(m[4], 10, 64)
		applied, _ := strconv.ParseUint(m[5], 10, 64)
		p.setTerm(id, term)
		p.setCommit(id, commit)
		p.run.Applied = append(p.run.Applied, Point{Node: id, At: p.now, Value: applied})
		if m[2] == "Leader" {
			p.lead(n, id, term)
		} else {
			p.stepDown(id)
		}
	case leadsRe.MatchString(note):
		m := leadsRe.FindStringSubmatch(note)
		id := atoi(m[1])
		term, _ := strconv.ParseUint(m[2], 10, 64)
		p.node(id)
		p.setTerm(id, term)
		p.lead(n, id, term)
	case crashRe.MatchString(note):
		m := crashRe.FindStringSubmatch(note)
		id := atoi(m[1])
		d, err := time.ParseDuration(m[2])
		if err != nil {
			return err
		}
		p.node(id)
		p.stepDown(id)
		p.run.Bands = append(p.run.Bands, Band{Node: id, Kind: "down", From: p.now, To: p.now + d.Seconds(), TraceRef: n})
	case pauseRe.MatchString(note):
		m := pauseRe.FindStringSubmatch(note)
		id := atoi(m[1])
		d, err := time.ParseDuration(m[2])
		if err != nil {
			return err
		}
		p.node(id)
		p.run.Bands = append(p.run.Bands, Band{Node: id, Kind: "paused", From: p.now, To: p.now + d.Seconds(), TraceRef: n})
	case faultRe.MatchString(note):
		m := faultRe.FindStringSubmatch(note)
		to := p.now
		if m[2] != "" {
			if d, err := time.ParseDuration(m[2]); err == nil {
				to = p.now + d.Seconds()
			}
		}
		p.run.Faults = append(p.run.Faults, Fault{From: p.now, To: to, Text: m[1], TraceRef: n})
	}
	return nil
}

func (p *parser) node(id int) {
	if p.leading == nil {
		p.leading, p.term, p.commit, p.stated = map[int]int{}, map[int]uint64{}, map[int]uint64{}, map[int]bool{}
	}
	for p.maxNode < id {
		p.maxNode++
		p.run.Nodes = append(p.run.Nodes, "n"+strconv.Itoa(p.maxNode))
	}
}

func (p *parser) lead(line, id int, term uint64) {
	if i, ok := p.leading[id]; ok && p.run.Bands[i].Term == term {
		return
	}
	p.stepDown(id)
	p.leading[id] = len(p.run.Bands)
	p.run.Bands = append(p.run.Bands, Band{Node: id, Kind: "leader", From: p.now, To: -1, Term: term, TraceRef: line})
}

func (p *parser) stepDown(id int) {
	if i, ok := p.leading[id]; ok {
		p.run.Bands[i].To = p.now
		delete(p.leading, id)
	}
}

func (p *parser) setTerm(id int, term uint64) {
	if term > p.term[id] {
		p.term[id] = term
		p.run.Terms = append(p.run.Terms, Point{Node: id, At: p.now, Value: term})
	}
}

func (p *parser) setCommit(id int, c uint64) {
	if c > p.commit[id] {
		p.commit[id] = c
		p.run.Commits = append(p.run.Commits, Point{Node: id, At: p.now, Value: c})
	}
}

func (p *parser) message(line int, kind string, from, to int, term uint64, rest string) {
	p.node(max(from, to))
	k, ok := p.kinds[kind]
	if !ok {
		k = len(p.run.Kinds)
		p.kinds[kind] = k
		p.run.Kinds = append(p.run.Kinds, kind)
	}
	p.run.Messages = append(p.run.Messages, Message{At: p.now, From: from, To: to, Kind: k, Term: term, TraceRef: line})
	preVote := kind == "MsgPreVote" || kind == "MsgPreVoteResp"
	if !p.stated[from] && !preVote {
		p.setTerm(from, term)
	}
	if !p.stated[to] && !preVote && term > p.term[to] {
		// §5.1: a higher term makes the receiver a follower of that term.
		p.setTerm(to, term)
		if i, ok := p.leading[to]; ok && p.run.Bands[i].Term < term {
			p.stepDown(to)
		}
	}
	if m := commitRe.FindStringSubmatch(rest); m != nil && (kind == "MsgApp" || kind == "MsgHeartbeat") {
		c, _ := strconv.ParseUint(m[1], 10, 64)
		if !p.stated[from] {
			p.setCommit(from, c)
		}
		if !p.stated[to] {
			p.setCommit(to, c)
		}
	}
}

func (p *parser) op(line, node int, client string, reply bool, text string) {
	p.node(node)
	ok := !reply || strings.HasPrefix(text, "ok")
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	p.run.Ops = append(p.run.Ops, Op{At: p.now, Node: node, Client: client, Reply: reply, OK: ok, Text: text, TraceRef: line})
}

func (p *parser) finish() {
	p.run.Duration = p.lastTime
	for i := range p.run.Bands {
		if p.run.Bands[i].To < 0 {
			p.run.Bands[i].To = p.lastTime
		}
	}
	for i := range p.run.Faults {
		p.run.Faults[i].To = min(p.run.Faults[i].To, max(p.lastTime, p.run.Faults[i].From))
	}
	sort.SliceStable(p.run.Bands, func(i, j int) bool { return p.run.Bands[i].From < p.run.Bands[j].From })
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
