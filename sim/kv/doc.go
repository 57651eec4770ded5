// Package kv is the simulator's key-value workload, registered with
// package sim as "kv" (the default Config.Workload). It plugs in above raft
// through sim's two interfaces: a sim.Service is a node's replicated state
// machine and its handling of client requests (kv.go); a sim.Workload makes
// the Services and drives the clients (clients.go). It is a small key-value
// store: Puts are log entries proposed on the node the client talks to
// (clients follow the leader hints of ErrNotLeader), Gets are served by
// ReadIndex on leaders and followers alike, and a few reader clients stay
// with one node each. Clients give up after a timeout and record the
// outcome as unknown; once the run is over, unknown writes are resolved from
// the committed log, every acknowledged write must survive on every node,
// and the history must be linearizable (linearizability.KVModel). A Get
// must also be served at a read index covering everything committed when it
// began, and a client write is committed once.
package kv
