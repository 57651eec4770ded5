// Package peer is the transport between havend nodes: session.PeerMessages
// (Raft's messages and the service's forwarded writes and keepalives) in
// frames on one long-lived stream per peer, over TLS, each stream opened by
// one request signed with the sending node's Ed25519 key and bound to its
// TLS connection (PROTOCOL.md, "Between nodes").
//
// # Sending
//
// Send encodes each message at once (the core reuses its buffers after
// Advance) and appends it to its destination's queue, then wakes the
// destinations' senders once. Each peer has one sender goroutine that
// writes the queue as it stands onto the peer's stream as one frame and at
// once goes back for more: it never waits for an answer, so frames are
// pipelined, and what arrives during a write rides in the next frame (a
// busy node writes few large frames, an idle one a heartbeat at once). One
// writer per stream keeps each peer's messages in order. A queue holds at
// most MaxQueueMessages messages and MaxQueueBytes bytes; beyond that Send
// drops (Raft resends what matters). Send never waits on the network, so a
// slow or dead peer delays nobody: not the core's loop, not the other
// peers. A write has a deadline (RequestTimeout, plus a second per MiB);
// when a write fails, or the stream is found ended (a reader goroutine per
// stream sees the peer close it, or refuse a frame), the frame is dropped,
// the stream closed, and the sender opens a new one, backing off (50 ms
// doubling to 2 s, jittered) while opening fails. A frame written just as
// the peer dies may be lost unnoticed, as a datagram would be; the next
// write notices. TCP keep-alive finds a peer gone silent. If
// Config.SnapshotSent is set, a frame carrying a MsgSnap asks for an ack:
// the report is ok when the peer acks it (decoded, checked, delivered),
// not ok if the stream ends first or the ack does not come within the
// write's deadline (the stream is then given up).
//
// # Receiving
//
// Handler serves POST /peer/v1/stream, a stream's opening. In order: the
// signature headers must be present (401), the opening have no body (413),
// the signature verify against the cluster's key list and cover the
// channel binding, the binding be this connection's, and the signature be
// fresh and not seen before (401 otherwise), and the request ask to
// upgrade an HTTP/1.1 connection to haven-peer/1 (426). Then the answer is
// 101 and the connection carries frames. Each frame must fit MaxBodyBytes
// (413), decode (400), and every message in it be from the signer (401)
// and for this node (421); only then is it handed to Deliver, one frame at
// a time per signer, in order. A refused frame gets a refusal record
// (status and reason) and the stream ends; nothing of that frame reaches
// the core, and the node keeps serving everyone else. A signer has one
// stream at a time: a newer opening closes the older stream, so one
// signer's frames never arrive by two streams at once. Close ends every
// stream peers opened.
//
// # Streams
//
// The opening is an HTTP/1.1 request that upgrades its connection, as a
// WebSocket's does:
//
//	POST /peer/v1/stream HTTP/1.1
//	Connection: Upgrade
//	Upgrade: haven-peer/1
//	Channel-Binding: tls-exporter=:<base64 of 32 bytes>:
//	Date, Content-Digest (of the empty body), Signature-Input, Signature
//
// Channel-Binding is the connection's tls-exporter (RFC 9266: TLS 1.3's
// exporter with label "EXPORTER-Channel-Binding", no context, 32 bytes);
// the receiver computes it from its side of the connection and refuses an
// opening that carries another. Both ends of one TLS connection, and only
// they, get the same value, so an opening recorded (or signed) for one
// connection is no good on any other, and everything after it on the
// connection is the signer's: TLS's integrity protects the frames, the
// bound signature says whose they are. After "101 Switching Protocols"
// each side writes its own records:
//
//	sender    frame: uvarint(len<<1 | ack), then len bytes: a batch
//	receiver  'a' uvarint(n): frames 1..n asked for an ack and are delivered
//	          'e' uvarint(status) uvarint(len) reason: refused; then EOF
//
// # What is signed (RFC 9421, RFC 9530)
//
//	Content-Digest: sha-256=:<base64 of SHA-256(body)>:
//	Signature-Input: haven=("@method" "@target-uri" "date" "content-digest" "channel-binding");created=<unix s>;keyid="<node id>";alg="ed25519";nonce="<unique>"
//	Signature: haven=:<base64 of the Ed25519 signature of the signature base>:
//
// The signature base is RFC 9421 §2.5's: one line per component, then the
// "@signature-params" line. The method and the full target URI (scheme,
// host:port, path, query) tie a request to one endpoint of one node; the
// digest ties it to its (empty) body; the channel binding to its TLS
// connection; date and created date it. keyid is the sender's node id in
// decimal, looked up in Config.Keys; alg must be "ed25519" if present. Only
// one signature per request is accepted, and it must cover at least those
// five components. The code is our own and is tested against RFC 9421
// Appendix B.2.6 (the Ed25519 example: its key, its exact signature base,
// its signature).
//
// Signing once per stream instead of once per batch takes Ed25519 off the
// path of every message (it was about a third of the transport's CPU per
// one-message round trip, and 30% of a node's CPU at 64 clients). Each
// signature carries a nonce (a random per-process prefix and a counter):
// Ed25519 is deterministic and created counts seconds, so two openings
// within a second would otherwise look like a replay.
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
// long enough for clock skew between servers kept by NTP, short enough that
// a recorded request is soon worthless and the cache small (the channel
// binding already makes a recording worthless on another connection; the
// window and the cache refuse it on its own). Nodes therefore need clocks
// within the window of each other. TLS (mutual, the cluster CA's certificates only) protects the
// bytes in transit and keeps strangers off the listener; the signatures
// authenticate each stream, whatever sits between the nodes.
//
// # Wire format
//
// A frame's batch is Protocol Buffers' encoding, written by hand (no generated code, no reflection):
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
// to its size. Decoded byte slices alias the frame.
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
