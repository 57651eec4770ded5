package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/havenproject/haven/netproto/peer"
	"github.com/havenproject/haven/raft"
)

const initUsage = `havend init: write what a cluster of separate havend processes needs.

  havend init -nodes 3 -dir cluster/

writes, under -dir:
  ca.crt, ca.key          the cluster's certificate authority (keep ca.key private)
  keys/nN.pub             every node's public signing key (the cluster's key list)
  nN/                     node nN's TLS certificate and key, and its signing key
  nN.yaml                 node nN's config: start it with  havend -config DIR/nN.yaml

It refuses a -dir that already holds a cluster (its ca.crt): a new CA and new
keys would cut that cluster's nodes off from each other at their next restart.

Node nN listens for Haven on HOST:(base-port+N-1), HTTP on +80, peers on +100.
The first -initial nodes form the new cluster; the others are spares that
start with initial_cluster_state: existing and wait to be added with
` + "`become learner`" + `. Copy a node's files to its machine and fix its addresses
for a cluster across machines.

Flags:
`

func runInit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("havend init", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), initUsage); fs.PrintDefaults() }
	nodes := fs.Int("nodes", 3, "how many nodes")
	initial := fs.Int("initial", 0, "how many of them form the initial cluster (default: all)")
	dir := fs.String("dir", "cluster", "directory to write into")
	host := fs.String("host", "127.0.0.1", "host the nodes listen on (also put in the certificates)")
	basePort := fs.Int("base-port", 7401, "Haven port of n1 (n2 gets the next, ...)")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "havend init: "+format+"\n", a...)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return usage("unexpected argument %q (flags only; see havend init -h)", fs.Arg(0))
	case *nodes < 1 || *nodes > 255:
		return usage("-nodes %d: want 1..255", *nodes)
	case *initial < 0 || *initial > *nodes:
		return usage("-initial %d: want 1..%d (0: all)", *initial, *nodes)
	case *basePort < 1 || *basePort+*nodes-1+100 > 65535:
		return usage("-base-port %d: the nodes' ports (Haven, +80 HTTP, +100 peers) must lie in 1..65535", *basePort)
	}
	if *initial == 0 {
		*initial = *nodes
	}
	// Never over a cluster already there: a new CA and keys would lock
	// its running nodes out of each other at their next restart.
	if _, err := os.Stat(filepath.Join(*dir, peer.CACertFile)); err == nil {
		fmt.Fprintf(stderr, "havend init: %s already holds a cluster (%s); choose another -dir or remove it first\n", *dir, peer.CACertFile)
		return 1
	}
	if err := writeCluster(*dir, *nodes, *initial, *host, *basePort); err != nil {
		fmt.Fprintln(stderr, "havend init:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote a %d-node cluster (%d initial) into %s; start each node with:\n", *nodes, *initial, *dir)
	for i := 1; i <= *nodes; i++ {
		fmt.Fprintf(stdout, "  havend -config %s\n", filepath.Join(*dir, fmt.Sprintf("n%d.yaml", i)))
	}
	return 0
}

func writeCluster(dir string, nodes, initial int, host string, basePort int) error {
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		return err
	}
	ca, err := peer.NewCA("Haven cluster CA")
	if err != nil {
		return err
	}
	if err := ca.Save(dir); err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	haven := func(i int) string { return net.JoinHostPort(host, strconv.Itoa(basePort+i-1)) }
	var peers []PeerConfig
	for i := 1; i <= initial; i++ {
		peers = append(peers, PeerConfig{ID: fmt.Sprintf("n%d", i), Haven: haven(i)})
	}
	for i := 1; i <= nodes; i++ {
		name := fmt.Sprintf("n%d", i)
		creds, err := ca.NewNode(raft.NodeID(i), host)
		if err != nil {
			return err
		}
		ndir := filepath.Join(abs, name)
		if err := creds.Save(ndir); err != nil {
			return err
		}
		if err := peer.SavePublicKey(filepath.Join(abs, "keys", name+".pub"), creds.Public()); err != nil {
			return err
		}
		cfg := fileConfig{
			ID: name, DataDir: filepath.Join(ndir, "data"), Haven: haven(i), Peers: peers,
			InitialClusterState: "new",
			CACert:              filepath.Join(abs, peer.CACertFile),
			Cert:                filepath.Join(ndir, peer.NodeCertFile), CertKey: filepath.Join(ndir, peer.NodeKeyFile),
			Key: filepath.Join(ndir, peer.SignKeyFile), KeysDir: filepath.Join(abs, "keys"),
		}
		if i > initial {
			cfg.InitialClusterState = "existing"
		}
		b, err := yaml.Marshal(cfg)
		if err != nil {
			return err
		}
		header := fmt.Sprintf("# havend config for %s (written by havend init). Every flag of\n# `havend -help` can be set here, with _ for -.\n", name)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), append([]byte(header), b...), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// fileConfig is what init writes: the settings that differ per node.
type fileConfig struct {
	ID                  string       `yaml:"id"`
	DataDir             string       `yaml:"data_dir"`
	Haven               string       `yaml:"haven"`
	Peers               []PeerConfig `yaml:"peers"`
	InitialClusterState string       `yaml:"initial_cluster_state"`
	CACert              string       `yaml:"ca_cert"`
	Cert                string       `yaml:"cert"`
	CertKey             string       `yaml:"cert_key"`
	Key                 string       `yaml:"key"`
	KeysDir             string       `yaml:"keys_dir"`
}
