package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/session"
)

// metrics are one node's Prometheus metrics, in a registry of its own (a
// -dev process runs three nodes; each serves its own /metrics). Every
// metric carries the node and the Raft group.
type metrics struct {
	reg *prometheus.Registry

	term, commit, applied, sessions, watches, isLeader prometheus.Gauge
	connections                                        prometheus.Gauge
	leaderChanges, proposals, snapshots                prometheus.Counter
	peerDropped, intakeFull                            prometheus.Counter
	fsync, batch                                       prometheus.Histogram
	requests                                           *prometheus.HistogramVec
}

func newMetrics(node string, group uint64) *metrics {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"node": node, "group": itoa(group)}
	g := func(name, help string) prometheus.Gauge {
		m := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "haven", Name: name, Help: help, ConstLabels: labels})
		reg.MustRegister(m)
		return m
	}
	c := func(name, help string) prometheus.Counter {
		m := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "haven", Name: name, Help: help, ConstLabels: labels})
		reg.MustRegister(m)
		return m
	}
	m := &metrics{
		reg:           reg,
		term:          g("raft_term", "Current Raft term."),
		commit:        g("raft_commit_index", "Highest log index known committed."),
		applied:       g("raft_applied_index", "Highest log index applied to the state machine."),
		isLeader:      g("raft_is_leader", "1 if this node leads its group."),
		sessions:      g("sessions", "Live sessions."),
		watches:       g("watches", "Watches registered on this node."),
		connections:   g("connections", "Open Haven client connections."),
		leaderChanges: c("raft_leader_changes_total", "Times this node saw the leader change."),
		proposals:     c("raft_proposals_total", "Entries this node appended as leader."),
		snapshots:     c("snapshots_total", "Snapshots this node took of its own state."),
		peerDropped:   c("peer_batches_dropped_total", "Peer message batches dropped because the loop's queue was full."),
		intakeFull:    c("intake_refused_total", "Requests answered Unavailable because the loop's queue was full."),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "haven", Name: "wal_fsync_seconds",
			Help: "Time of one WAL write and fsync (one per Ready).", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16)}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "haven", Name: "wal_batch_entries",
			Help: "Entries written by one fsync (group commit).", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "haven", Name: "request_seconds",
			Help: "Haven request latency by action and code.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(100e-6, 2, 16)}, []string{"action", "code"}),
	}
	reg.MustRegister(m.fsync, m.batch, m.requests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeStatus(st *session.Status) {
	m.term.Set(float64(st.Term))
	m.commit.Set(float64(st.Commit))
	m.applied.Set(float64(st.Applied))
	m.sessions.Set(float64(st.Sessions))
	m.watches.Set(float64(st.Watches))
	if st.Role == "leader" {
		m.isLeader.Set(1)
	} else {
		m.isLeader.Set(0)
	}
}

func (m *metrics) observeRequest(action string, code fsm.Code, took time.Duration) {
	if action == "" {
		action = "none"
	}
	m.requests.WithLabelValues(action, string(code)).Observe(took.Seconds())
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}
