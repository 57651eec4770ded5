package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/havenproject/haven/netproto"
	"github.com/havenproject/haven/raft"
)

// Config is one node's settings: from flags, or from a YAML file (-config)
// whose keys are the flags' names. Flags given on the command line win
// over the file.
type Config struct {
	// devHaven is -haven given with -dev: n1's address (not a setting).
	devHaven string

	ID      string `yaml:"id"`
	DataDir string `yaml:"data_dir"`

	// Addresses: Haven (TCP, for programs), HTTP (status, metrics,
	// dashboard) and peer (HTTPS between nodes).
	Haven string `yaml:"haven"`
	HTTP  string `yaml:"http"`
	Peer  string `yaml:"peer"`

	// Peers lists every member of the initial cluster, this node included.
	Peers []PeerConfig `yaml:"peers"`
	// InitialClusterState is "new" (this node may write the initial
	// configuration, if its data dir is empty) or "existing" (it joins a
	// running cluster and waits to be added with `become learner`).
	InitialClusterState string `yaml:"initial_cluster_state"`

	// Certificates and keys (PEM files) for the peer transport.
	CACert  string `yaml:"ca_cert"`
	Cert    string `yaml:"cert"`
	CertKey string `yaml:"cert_key"`
	// Key is this node's Ed25519 signing key; default <data_dir>/sign.key.
	Key string `yaml:"key"`
	// KeysDir holds the cluster's public signing keys, one <id>.pub each.
	KeysDir string `yaml:"keys_dir"`

	MinTTLms        uint64 `yaml:"min_ttl_ms"`
	MaxTTLms        uint64 `yaml:"max_ttl_ms"`
	DefaultTTLms    uint64 `yaml:"default_ttl_ms"`
	MaxMessageBytes int    `yaml:"max_message_bytes"`
	MaxItemBytes    int    `yaml:"max_item_bytes"`

	// Limits.
	MaxIntake        int    `yaml:"max_intake"`
	MaxInflight      int    `yaml:"max_inflight"`
	RequestTimeoutMs int64  `yaml:"request_timeout_ms"`
	SnapshotEvery    uint64 `yaml:"snapshot_every"`
	SnapshotTail     uint64 `yaml:"snapshot_tail"`
	MaxPendingWrites int    `yaml:"max_pending_writes"`
	MaxPendingReads  int    `yaml:"max_pending_reads"`

	// Timing (see docs/host.md for why these defaults).
	Tick           time.Duration `yaml:"tick"`
	ElectionTicks  int           `yaml:"election_ticks"`
	HeartbeatTicks int           `yaml:"heartbeat_ticks"`
	NoFsync        bool          `yaml:"no_fsync"`
	// ReadLease serves linearizable reads from the leader's lease
	// (§6.4.1) instead of a ReadIndex round per batch.
	ReadLease bool `yaml:"read_lease"`
	// Pprof serves Go's profiles at /debug/pprof/ on the HTTP listener.
	Pprof bool `yaml:"pprof"`

	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`
}

// PeerConfig is one member of the initial cluster.
type PeerConfig struct {
	ID    string `yaml:"id"`
	Haven string `yaml:"haven"`
	// HTTP and Peer default to the port layout (Haven port +80, +100).
	HTTP string `yaml:"http,omitempty"`
	Peer string `yaml:"peer,omitempty"`
	// Key is the member's Ed25519 public key (a PEM file).
	Key string `yaml:"key,omitempty"`
}

func defaultConfig() Config {
	return Config{
		ID: "n1", DataDir: "./haven-data",
		Haven: "127.0.0.1:7400", HTTP: "", Peer: "",
		InitialClusterState: "new",
		MinTTLms:            500, MaxTTLms: 60000, DefaultTTLms: 5000,
		MaxMessageBytes: 1 << 20, MaxItemBytes: 64 << 10,
		MaxIntake: 16384, MaxInflight: 1024, RequestTimeoutMs: 5000, SnapshotEvery: 100000, SnapshotTail: 5000,
		MaxPendingWrites: 10000, MaxPendingReads: 10000,
		Tick: 10 * time.Millisecond, ElectionTicks: 10, HeartbeatTicks: 2,
		LogLevel: "info", LogFormat: "text",
	}
}

// bindFlags registers every setting on fs, defaulting to cfg's values.
func bindFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.ID, "id", cfg.ID, "node id (n1, n2, ...)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data directory (WAL, snapshots, identity)")
	fs.StringVar(&cfg.Haven, "haven", cfg.Haven, "Haven protocol (TCP) listen address")
	fs.StringVar(&cfg.HTTP, "http", cfg.HTTP, "HTTP listen address (default: Haven port + 80)")
	fs.StringVar(&cfg.Peer, "peer", cfg.Peer, "peer (HTTPS) listen address (default: Haven port + 100)")
	fs.Var((*peersFlag)(&cfg.Peers), "peers", "initial members, comma separated id=haven-address (e.g. n1=127.0.0.1:7401,n2=127.0.0.1:7402); the config file can give each one's http, peer and key too")
	fs.StringVar(&cfg.InitialClusterState, "initial-cluster-state", cfg.InitialClusterState, `"new": bootstrap the peers as a new cluster if the data dir is empty; "existing": join a running cluster (wait to be added with become)`)
	fs.StringVar(&cfg.CACert, "ca-cert", cfg.CACert, "CA certificate (PEM) the peers' certificates are checked against")
	fs.StringVar(&cfg.Cert, "cert", cfg.Cert, "this node's TLS certificate (PEM)")
	fs.StringVar(&cfg.CertKey, "cert-key", cfg.CertKey, "this node's TLS key (PEM)")
	fs.StringVar(&cfg.Key, "key", cfg.Key, "this node's Ed25519 signing key (PEM; default <data-dir>/sign.key, made if missing)")
	fs.StringVar(&cfg.KeysDir, "keys-dir", cfg.KeysDir, "directory of the cluster's public signing keys, one <id>.pub per node")
	fs.Uint64Var(&cfg.MinTTLms, "min-ttl-ms", cfg.MinTTLms, "smallest session ttl granted")
	fs.Uint64Var(&cfg.MaxTTLms, "max-ttl-ms", cfg.MaxTTLms, "largest session ttl granted")
	fs.Uint64Var(&cfg.DefaultTTLms, "default-ttl-ms", cfg.DefaultTTLms, "ttl of a session that asks for none")
	fs.IntVar(&cfg.MaxMessageBytes, "max-message-bytes", cfg.MaxMessageBytes, "largest Haven message, either direction")
	fs.IntVar(&cfg.MaxItemBytes, "max-item-bytes", cfg.MaxItemBytes, "largest item data (encoded)")
	fs.IntVar(&cfg.MaxIntake, "max-intake", cfg.MaxIntake, "requests queued for the node's loop before new ones are answered Unavailable")
	fs.IntVar(&cfg.MaxInflight, "max-inflight", cfg.MaxInflight, "requests of one connection in flight before the node stops reading it")
	fs.Int64Var(&cfg.RequestTimeoutMs, "request-timeout-ms", cfg.RequestTimeoutMs, "how long a request waits for a leader or a commit before Unavailable")
	fs.Uint64Var(&cfg.SnapshotEvery, "snapshot-every", cfg.SnapshotEvery, "applied entries between snapshots (log compaction)")
	fs.Uint64Var(&cfg.SnapshotTail, "snapshot-tail", cfg.SnapshotTail, "entries the log keeps behind a snapshot, for followers a little behind")
	fs.IntVar(&cfg.MaxPendingWrites, "max-pending-writes", cfg.MaxPendingWrites, "writes waiting for their entry before new ones are answered Unavailable")
	fs.IntVar(&cfg.MaxPendingReads, "max-pending-reads", cfg.MaxPendingReads, "reads waiting for a read index before new ones are answered Unavailable")
	fs.DurationVar(&cfg.Tick, "tick", cfg.Tick, "length of one Raft tick")
	fs.IntVar(&cfg.ElectionTicks, "election-ticks", cfg.ElectionTicks, "election timeout in ticks (randomised in [n, 2n))")
	fs.IntVar(&cfg.HeartbeatTicks, "heartbeat-ticks", cfg.HeartbeatTicks, "leader heartbeat interval in ticks")
	fs.BoolVar(&cfg.NoFsync, "no-fsync", cfg.NoFsync, "do not fsync the WAL (unsafe: tests and experiments only)")
	fs.BoolVar(&cfg.ReadLease, "read-lease", cfg.ReadLease, "linearizable reads trust the leader's lease (CheckQuorum, clocks drifting < 25%) instead of a ReadIndex round")
	fs.BoolVar(&cfg.Pprof, "pprof", cfg.Pprof, "serve Go's profiles at /debug/pprof/ on the HTTP listener (unauthenticated: diagnosis only)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text or json")
}

// loadConfigFile reads a YAML config over cfg.
func loadConfigFile(path string, cfg *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	// A key that is no setting (a misspelt max_item_byte, say) is an
	// error, not a setting silently left at its default.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

type peersFlag []PeerConfig

func (p *peersFlag) String() string {
	s := ""
	for i, pc := range *p {
		if i > 0 {
			s += ","
		}
		s += pc.ID + "=" + pc.Haven
	}
	return s
}

func (p *peersFlag) Set(v string) error {
	*p = nil
	for _, part := range splitComma(v) {
		id, addr, ok := cut(part, '=')
		if !ok {
			return fmt.Errorf("peer %q is not id=address", part)
		}
		*p = append(*p, PeerConfig{ID: id, Haven: addr})
	}
	return nil
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// offsetPort applies the port layout: a node's HTTP port is its Haven
// port + 80 and its peer port + 100 (docs/decisions.md).
func offsetPort(haven string, delta int) (string, error) {
	host, port, err := net.SplitHostPort(haven)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p+delta > 65535 || p == 0 {
		return "", fmt.Errorf("address %s has no port to derive another from", haven)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+delta)), nil
}

// resolve fills derived settings and checks the result.
func (c *Config) resolve() error {
	if _, err := netproto.ParseNodeID(c.ID); err != nil {
		return err
	}
	var err error
	if c.HTTP == "" {
		if c.HTTP, err = offsetPort(c.Haven, 80); err != nil {
			return err
		}
	}
	if c.Peer == "" {
		if c.Peer, err = offsetPort(c.Haven, 100); err != nil {
			return err
		}
	}
	if len(c.Peers) == 0 {
		c.Peers = []PeerConfig{{ID: c.ID, Haven: c.Haven}}
	}
	self := false
	for i := range c.Peers {
		p := &c.Peers[i]
		if _, err := netproto.ParseNodeID(p.ID); err != nil {
			return err
		}
		if p.ID == c.ID {
			self = true
			if p.HTTP == "" {
				p.HTTP = c.HTTP
			}
			if p.Peer == "" {
				p.Peer = c.Peer
			}
		}
		if p.HTTP == "" {
			if p.HTTP, err = offsetPort(p.Haven, 80); err != nil {
				return err
			}
		}
		if p.Peer == "" {
			if p.Peer, err = offsetPort(p.Haven, 100); err != nil {
				return err
			}
		}
	}
	if !self && c.InitialClusterState == "new" {
		return fmt.Errorf("peers do not list this node (%s)", c.ID)
	}
	switch c.InitialClusterState {
	case "new", "existing":
	default:
		return fmt.Errorf("initial-cluster-state is %q, not new or existing", c.InitialClusterState)
	}
	if c.Tick <= 0 || c.ElectionTicks <= c.HeartbeatTicks || c.HeartbeatTicks <= 0 {
		return errors.New("need tick > 0 and election-ticks > heartbeat-ticks > 0")
	}
	if c.MinTTLms == 0 || c.MinTTLms > c.MaxTTLms {
		return errors.New("need 0 < min-ttl-ms <= max-ttl-ms")
	}
	// A watch event carries an item and its path (up to 1024 bytes): one
	// that does not fit in a message could never be delivered.
	if c.MaxItemBytes <= 0 || c.MaxMessageBytes < c.MaxItemBytes+itemMessageSlack {
		return fmt.Errorf("need 0 < max-item-bytes and max-message-bytes >= max-item-bytes + %d (an event, its path and its rid must fit in a message)", itemMessageSlack)
	}
	return nil
}

// itemMessageSlack is what a message needs beyond an item's data to carry
// it in an event: the path (at most 1024 bytes), the item's other fields,
// the pong around it and a modest rid.
const itemMessageSlack = 4096

func mustID(s string) raft.NodeID {
	id, err := netproto.ParseNodeID(s)
	if err != nil {
		panic(err)
	}
	return id
}
