package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// runDev runs n1-n3 in this process on the PROTOCOL.md development ports
// (or from -haven on), with fresh data in a temporary directory removed
// on exit.
func runDev(base Config, logger *slog.Logger, stdout io.Writer) int {
	first := base.devHaven
	if first == "" {
		first = "127.0.0.1:7401"
	}
	var peers []PeerConfig
	for i := range 3 {
		addr, err := offsetPort(first, i)
		if err != nil {
			fmt.Fprintln(os.Stderr, "havend: -haven:", err)
			return 2
		}
		peers = append(peers, PeerConfig{ID: fmt.Sprintf("n%d", i+1), Haven: addr})
	}
	tmp, err := os.MkdirTemp("", "havend-dev-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "havend:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	transports, err := devTransports(tmp, peers, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "havend:", err)
		return 1
	}
	var servers []*server
	for _, p := range peers {
		cfg := base
		cfg.ID, cfg.Haven, cfg.HTTP, cfg.Peer = p.ID, p.Haven, "", ""
		cfg.DataDir = filepath.Join(tmp, p.ID)
		cfg.Peers = append([]PeerConfig(nil), peers...)
		cfg.InitialClusterState = "new"
		if err := cfg.resolve(); err != nil {
			fmt.Fprintln(os.Stderr, "havend:", err)
			return 1
		}
		s, err := startServer(&cfg, logger, transports(p.ID))
		if err != nil {
			fmt.Fprintln(os.Stderr, "havend:", err)
			for _, s := range servers {
				s.shutdown(0)
			}
			return 1
		}
		servers = append(servers, s)
	}
	fmt.Fprintf(stdout, "havend -dev: a three-node cluster, data in %s (removed on exit)\n", tmp)
	for _, s := range servers {
		fmt.Fprintf(stdout, "  %s  Haven %s  HTTP http://%s/  peer %s\n", s.cfg.ID, s.cfg.Haven, s.cfg.HTTP, s.cfg.Peer)
	}
	fmt.Fprintf(stdout, "dashboard: http://%s/\n", servers[0].cfg.HTTP)
	return waitAndStop(logger, servers)
}
