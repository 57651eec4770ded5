package nemesis

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/netproto/client"
)

// No false expiry, from the pings and the leaders' decisions: every
// worker's client reports its pings (client.Config.OnPing: send time,
// answer time, outcome), every leader logs each expiry it proposes with
// the time it decided (havend's "session expiry decided" line), and the
// committed log says which proposal ended the session. These become the
// ping and expiry records of the history, and linearizability/history's
// CheckNoFalseExpiry judges them, the code the simulator runs.

// expiryBounds are the tolerances on this machine: the leader ticks every
// 10 ms (havend's default tick, which the suite keeps), and its clock is
// the machine's own, read by the same kernel as the clients'; the drift
// allowed covers the loop turn between the decision and its log line and
// the scheduler of a loaded machine.
var expiryBounds = history.ExpiryBounds{Drift: 0.02, Tick: 10 * time.Millisecond}

// decision is one logged expiry decision.
type decision struct {
	node        string
	index, term uint64
	at          time.Time
	session     string
}

var decisionLine = regexp.MustCompile(`msg="session expiry decided".* session=(\S+) index=(\d+) term=(\d+) decided_at=(\S+)`)

// readDecisions reads the expiry decisions from every node's log.
func readDecisions(c *cluster) ([]decision, error) {
	var out []decision
	for _, nd := range c.nodes {
		f, err := os.Open(nd.log)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			m := decisionLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			index, _ := strconv.ParseUint(m[2], 10, 64)
			term, _ := strconv.ParseUint(m[3], 10, 64)
			at, err := time.Parse(time.RFC3339Nano, m[4])
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: decided_at %q: %w", nd.log, m[4], err)
			}
			out = append(out, decision{node: nd.id, session: m[1], index: index, term: term, at: at})
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pingRecords are a session's pings in the history's format.
func pingRecords(r *recorder, s *session) []history.Record {
	var out []history.Record
	for _, p := range s.pings.all() {
		answer := "ok"
		if p.Err != nil {
			answer = string(client.CodeOf(p.Err))
		}
		out = append(out, history.Record{Ping: &history.Ping{Client: s.row, Session: s.id,
			Sent: int64(p.Sent.Sub(r.t0)), Answer: answer, At: int64(p.Answered.Sub(r.t0))}})
	}
	return out
}

// expiryRecords pairs every expiry the committed log holds with the
// leader's decision that proposed it (same index and term). An expiry of a
// worker's session that no leader logged is a failure: the truth and the
// decisions disagree.
//
// decided maps each such session to its decision's time: the entry that
// expired it did not exist before, so its end is called no earlier.
func expiryRecords(v *verdicts, r *recorder, k *known, log []history.Entry, decisions []decision, decided map[string]time.Time) []history.Record {
	byEntry := map[[2]uint64]decision{}
	for _, d := range decisions {
		byEntry[[2]uint64{d.index, d.term}] = d
	}
	var out []history.Record
	for _, s := range r.sessions {
		end, ok := k.ends[s.id]
		if !ok || !end.expired {
			continue
		}
		term := uint64(0)
		if end.index >= 1 && end.index <= uint64(len(log)) {
			term = log[end.index-1].Term
		}
		d, ok := byEntry[[2]uint64{end.index, term}]
		if !ok || d.session != s.id {
			v.fail("expiry of session %s (entry %d, term %d) is in the committed log, but no leader logged deciding it", s.id, end.index, term)
			continue
		}
		decided[s.id] = d.at
		out = append(out, history.Record{Expiry: &history.Expiry{Session: s.id, TTLms: uint64(s.ttl / time.Millisecond),
			Index: end.index, ProposedAt: int64(d.at.Sub(r.t0))}})
	}
	return out
}

// checkExpiries runs the no-false-expiry checker on the run's pings and
// expiries and returns their records for the history file, and when each
// expired session's end was decided.
func checkExpiries(v *verdicts, c *cluster, r *recorder, k *known, log []history.Entry) ([]history.Record, map[string]time.Time) {
	decided := map[string]time.Time{}
	decisions, err := readDecisions(c)
	if err != nil {
		v.fail("reading the leaders' expiry decisions: %v", err)
		return nil, decided
	}
	var recs []history.Record
	pings, ok := 0, 0
	for _, s := range r.sessions {
		p := pingRecords(r, s)
		pings += len(p)
		for _, rec := range p {
			if rec.Ping.Answer == "ok" {
				ok++
			}
		}
		recs = append(recs, p...)
	}
	exp := expiryRecords(v, r, k, log, decisions, decided)
	recs = append(recs, exp...)
	if err := history.CheckNoFalseExpiry(recs, expiryBounds); err != nil {
		v.fail("%v", err)
	}
	short := 0
	for _, e := range exp {
		if e.Expiry.TTLms < 5000 {
			short++
		}
	}
	v.note("no false expiry: %d pings (%d answered OK), %d expiries (%d of 500 ms sessions), %d decisions logged",
		pings, ok, len(exp), short, len(decisions))
	return recs, decided
}
