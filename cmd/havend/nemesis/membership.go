package nemesis

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/havenproject/haven/netproto/client"
)

// rejoin is the membership fault: node victim is removed from the cluster
// (become removed), stopped, its data dir emptied, started again to join
// an existing cluster, added back as a learner (become learner) and, once
// it has caught up, promoted (become voter), all through the Go client on
// the other nodes while the load goes on. It returns what it did, for the
// timeline, and what went wrong that fails the run ("" if nothing). Every
// step is retried until the leader's status shows it, for at most bound in
// all.
//
// `become learner` names the victim's Haven address (PROTOCOL.md); each
// node takes its peer address from its own yaml, which names the proxy
// (i, victim) for that id at that Haven address (havend's addrsOf,
// members.go), so the links to it go through the proxies again, as before
// the rejoin, and later partitions cut them. The fault checks that they
// do: the victim caught up from the leader, so the proxies into it must
// have carried its catch-up; had the nodes fallen back on the port layout
// (peer port = Haven port + 100, the victim's own listener), they would
// have carried nothing.
func rejoin(c *cluster, victim int, bound time.Duration, logf func(string, ...any)) (text, failure string) {
	nd := c.nodes[victim]
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	var others []string
	for i, o := range c.nodes {
		if i != victim {
			others = append(others, o.haven)
		}
	}
	adm, err := client.Connect(ctx, client.Config{Endpoints: others, TTL: 30 * time.Second})
	if err != nil {
		return fmt.Sprintf("rejoin %s: no admin session: %v", nd.id, err), ""
	}
	defer adm.Abandon()
	role := func() string { // the victim's role as the leader lists it; "" when not a member
		lead := c.leader(ctx)
		if lead < 0 {
			return "?"
		}
		st, err := client.FetchStatus(ctx, c.nodes[lead].http)
		if err != nil {
			return "?"
		}
		i := slices.IndexFunc(st.Members, func(m client.MemberStatus) bool { return m.ID == nd.id })
		if i < 0 {
			return ""
		}
		return st.Members[i].Role
	}
	step := func(kind client.BecomeKind, address, want string) error {
		for ctx.Err() == nil {
			if role() == want {
				return nil
			}
			bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := adm.Become(bctx, kind, nd.id, address)
			cancel()
			if err != nil {
				logf("nemesis: become %s %s: %v", kind, nd.id, err)
			}
			time.Sleep(300 * time.Millisecond)
		}
		return fmt.Errorf("become %s %s: not done within %v", kind, nd.id, bound)
	}
	t0 := time.Now()
	if err := step(client.BecomeRemoved, "", ""); err != nil {
		return "rejoin " + nd.id + ": " + err.Error(), ""
	}
	removed := time.Since(t0)
	c.kill(victim)
	if err := os.RemoveAll(nd.dataDir); err != nil {
		return fmt.Sprintf("rejoin %s: emptying its data dir: %v", nd.id, err), ""
	}
	nd.mu.Lock()
	nd.args = []string{"-initial-cluster-state", "existing"}
	nd.mu.Unlock()
	if err := c.start(victim); err != nil {
		return fmt.Sprintf("rejoin %s: restart: %v", nd.id, err), ""
	}
	// Nothing is sent to the victim while it is no member: what the
	// proxies into it carry from here on is its links as a member again.
	conns0, bytes0 := c.trafficInto(victim)
	if err := step(client.BecomeLearner, nd.haven, "learner"); err != nil {
		return "rejoin " + nd.id + ": removed, then " + err.Error(), ""
	}
	learner := time.Since(t0)
	// Caught up: it applied what the leader had committed when it joined.
	caughtUp := false
	if lead := c.leader(ctx); lead >= 0 {
		if st, err := client.FetchStatus(ctx, c.nodes[lead].http); err == nil {
			for ctx.Err() == nil {
				mine, err := client.FetchStatus(ctx, nd.http)
				if err == nil && mine.Applied >= st.Commit {
					caughtUp = true
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	if err := step(client.BecomeVoter, "", "voter"); err != nil {
		return "rejoin " + nd.id + ": removed, learner, then " + err.Error(), ""
	}
	conns1, bytes1 := c.trafficInto(victim)
	text = fmt.Sprintf("rejoin %s: removed after %v, empty data dir, learner after %v, voter after %v; the proxies into it carried %d bytes over %d connections since it was added",
		nd.id, removed.Round(time.Millisecond), learner.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), bytes1-bytes0, conns1-conns0)
	if caughtUp && (bytes1 == bytes0 || conns1 == conns0) {
		failure = fmt.Sprintf("rejoin %s: it caught up as a learner, but the proxies into it carried %d bytes over %d connections since it was added: the other nodes reach it around the proxies, which partitions then do not cut",
			nd.id, bytes1-bytes0, conns1-conns0)
	}
	return text, failure
}
