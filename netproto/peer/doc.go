// Package peer is the transport between havend nodes: session.PeerMessages
// (Raft's messages and the service's forwarded writes and keepalives) in
// batches, over long-lived HTTPS connections, every request signed with the
// sending node's Ed25519 key (PROTOCOL.md, "Between nodes").
//
// # Sending
//
// Send encodes each message at once (the core reuses its buffers after
// Advance) and appends it to its destination's queue. Each peer has one
// sender goroutine that posts the queue as it stands as one batch and waits
// for the answer before posting the next: what arrives during a round trip
// rides in the next batch, so a busy node sends few large requests and an
// idle one sends heartbeats at once. One batch in flight per peer also keeps
// each peer's messages in order. A queue holds at most MaxQueueMessages
// messages and MaxQueueBytes bytes; beyond that Send drops (Raft resends
// what matters). Send never waits on the network, so a slow or dead peer
// delays nobody: not the core's loop, not the other peers. A failed batch
// is dropped and the sender backs off (50 ms doubling to 2 s, jittered)
// before it tries again; net/http dials a new connection when the old one
// is gone, and a request's timeout (with TCP keep-alive) finds one that
// went silent. Batches travel over HTTP/1.1 keep-alive: one batch in flight
// needs one connection, and its round trip costs fewer goroutine hand-offs
// than HTTP/2's (docs/decisions.md). If
// Config.SnapshotSent is set, it hears how each MsgSnap's batch ended, for
// raft's ReportSnapshot.
//
// # Receiving
//
// Handler serves POST /peer/v1/batch. In order: the signature headers must
// be present, the body fit MaxBodyBytes (413), the signature verify against
// the cluster's key list, be fresh and not seen before (401 otherwise), the
// body decode (400), and every message in it be from the signer (401) and
// for this node (421). Only then is the batch handed to Deliver, and the
// answer is 204. A bad request never reaches the core, and the node keeps
// serving everyone else.
//
// # What is signed (RFC 9421, RFC 9530)
//
//	Content-Digest: sha-256=:<base64 of SHA-256(body)>:
//	Signature-Input: haven=("@method" "@target-uri" "date" "content-digest");created=<unix s>;keyid="<node id>";alg="ed25519";nonce="<unique>"
//	Signature: haven=:<base64 of the Ed25519 signature of the signature base>:
//
// The signature base is RFC 9421 §2.5's: one line per component, then the
// "@signature-params" line. The method and the full target URI (scheme,
// host:port, path, query) tie a request to one endpoint of one node; the
// digest ties it to its body; date and created date it. keyid is the
// sender's node id in decimal, looked up in Config.Keys; alg must be
// "ed25519" if present. Only one signature per request is accepted, and it
// must cover at least those four components. The code is our own and is
// tested against RFC 9421 Appendix B.2.6 (the Ed25519 example: its key, its
// exact signature base, its signature).
//
// Every batch is signed, not once per stream: it needs no binding to the
// TLS connection, and a recorded request is refused on any connection. The
// cost, shared by all the messages of a batch: signing and verifying are
// about a third of the CPU of a one-message round trip (roughly 0.1 of
// 0.3 ms on the loaded 2-core test machine, BenchmarkTransportPingPong and
// its profile), and nothing per message once batches grow under load
// (BenchmarkTransport: 1.1-1.4 µs of CPU per message, both ends). Each
// signature carries a nonce (a random per-process prefix and a counter):
// Ed25519 is deterministic and created counts seconds, so two equal
// batches within a second would otherwise look like a replay.
//
// # Replay window
//
// A request is fresh if its created time and its Date are within
// ReplayWindow (default 30 s) of the receiver's clock, either way. Inside
// the window the receiver remembers every signature it accepted and refuses
// one seen again. The memory is bounded (65,536 signatures): when full it
// forgets the oldest and from then on refuses anything created no later
// than that one, so forgetting never lets a replay through. Only verified
// signatures are remembered, so only cluster members can fill it. Why 30 s:
// long enough for clock skew between servers kept by NTP and a batch's
// time in a queue, short enough that a recorded request is soon worthless
// and the cache small. Nodes therefore need clocks within the window of
// each other. TLS (mutual, the cluster CA's certificates only) protects the
// bytes in transit and keeps strangers off the listener; the signatures
// authenticate each request by itself, whatever sits between the nodes.
//
// # Wire format
//
// A batch body (Content-Type application/vnd.haven.peer-batch) is Protocol
// Buffers' encoding, written by hand (no generated code, no reflection):
// each field is a varint key (number<<3 | type), then a varint (type 0) or
// a varint length and that many bytes (type 2). Zero varints are left out;
// byte fields are written when non-nil, so nil and empty stay apart;
// repeated fields repeat the key. Unknown fields are skipped, so a newer
// node may add fields. `protoc --decode_raw` reads a body.
//
//	Batch         1 PeerMessage (repeated)
//	PeerMessage   1 group  2 from  3 to  4 raft Message  5 Forward
//	              6 ForwardReply  7 KeepAlive  8 KeepAliveAck
//	Message       1 type  2 from  3 to  4 term  5 log_term  6 index
//	              7 Entry (repeated)  8 commit  9 reject (0|1)
//	              10 reject_hint  11 Snapshot  12 context (bytes)  13 round
//	Entry         1 term  2 index  3 type  4 data (bytes)
//	Snapshot      1 SnapshotMeta  2 data (bytes)
//	SnapshotMeta  1 index  2 term  3 ConfState
//	ConfState     1 voter (repeated)  2 learner (repeated)
//	              3 Address (repeated, by id): 1 id  2 address (string)
//	Forward       1 id  2 command (bytes)  3 become (string)  4 node
//	              5 address (string)  6 term (of the leader it was sent to)
//	ForwardReply  1 id  2 index  3 term  4 code (string)  5 message (string)
//	KeepAlive     1 id  2 session (string, repeated)
//	KeepAliveAck  1 id  2 refused (string, repeated)
//
// The group id travels on every message (DESIGN.md, "many quorums"). The
// decoder checks every length against the input, refuses a varint over 64
// bits, an enum over a byte or a bool other than 0 or 1, and caps a batch
// at MaxBatchMessages messages and 2^20 entries, node ids and strings, so
// garbage costs an error, never a panic or an allocation out of proportion
// to its size. Decoded byte slices alias the request body.
//
// # PKI
//
// NewCA, CA.NewNode and DevCluster make a development CA, per-node TLS
// certificates (ECDSA P-256) for 127.0.0.1, ::1, localhost and given hosts,
// good for serving and as clients, and Ed25519 signing keys. CA.Save,
// Node.Save, LoadCA and LoadNode keep them as PEM files: ca.crt and ca.key
// in a cluster directory, node.crt, node.key, sign.key and sign.pub in a
// node's (keys mode 0600). ServerTLSConfig and ClientTLSConfig make the
// mutual-TLS configurations (TLS 1.3, the cluster CA only).
package peer
