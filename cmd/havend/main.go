// Command havend is the Haven server: one node of a Haven cluster, or with
// -dev three of them in one process. See docs/host.md.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

const usage = `havend: the Haven server.

Usage:
  havend [flags]                  one node (default: n1, ./haven-data, Haven 127.0.0.1:7400, HTTP :7480)
  havend -config node.yaml        settings from a YAML file (keys as the flags, with _ for -)
  havend -dev                     three nodes n1-n3 in this process, fresh data each run:
                                  Haven 127.0.0.1:7401-7403, HTTP 7481-7483, peers 7501-7503
                                  (-haven HOST:PORT moves them to PORT, PORT+1, PORT+2)
  havend init -nodes 3 -dir cluster/
                                  write keys, certificates and one config file per node
                                  for a cluster of separate processes (see docs/host.md)
  havend dump -data DIR           print the committed log of a data dir as JSON lines
                                  (read-only; for tests and post-mortems)

Addresses: a node's HTTP port defaults to its Haven port + 80 and its peer
port to Haven + 100.

Test hooks, for the fault suite only (never in production): the environment
variables HAVEN_TEST_DISK_CONTROL, HAVEN_TEST_POWER_LOSS and
HAVEN_TEST_CLOCK_CONTROL (docs/host.md, "Test hooks").

Flags:
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		os.Exit(runInit(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "dump" {
		os.Exit(runDump(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var cfg Config
	dev, err := parseArgs(args, &cfg, stdout, stderr)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		if err != errUsage {
			fmt.Fprintln(stderr, "havend:", err)
		}
		return 2
	}
	logger, err := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "havend:", err)
		return 2
	}
	if dev {
		return runDev(cfg, logger, stdout)
	}
	if err := cfg.resolve(); err != nil {
		fmt.Fprintln(stderr, "havend:", err)
		return 2
	}
	tr, err := peerTransportFor(&cfg, logger)
	if err != nil {
		fmt.Fprintln(stderr, "havend:", err)
		return 2
	}
	s, err := startServer(&cfg, logger, tr)
	if err != nil {
		fmt.Fprintln(stderr, "havend:", err)
		return 1
	}
	fmt.Fprintf(stdout, "havend %s: Haven %s, HTTP http://%s/ (peer %s), data %s\n", cfg.ID, cfg.Haven, cfg.HTTP, s.peerListen(), cfg.DataDir)
	return waitAndStop(logger, []*server{s})
}

// errUsage: the flag package has already said what is wrong.
var errUsage = errors.New("usage")

// parseFlags parses args into fs, whose Usage writes to fs.Output(). The
// usage goes to stdout when it was asked for (-h, -help), so that it pipes
// into a pager, and to stderr after a mistake, with what was wrong.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var out bytes.Buffer
	fs.SetOutput(&out)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	if errors.Is(err, flag.ErrHelp) {
		_, _ = out.WriteTo(stdout)
	} else {
		_, _ = out.WriteTo(stderr)
	}
	return err
}

// parseArgs reads the flags and the -config file into cfg: the file over
// the defaults, flags given on the command line over the file.
func parseArgs(args []string, cfg *Config, stdout, stderr io.Writer) (dev bool, err error) {
	*cfg = defaultConfig()
	fs := flag.NewFlagSet("havend", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "YAML config file (flags given as well win over it)")
	devFlag := fs.Bool("dev", false, "run a three-node development cluster in this process")
	bindFlags(fs, cfg)
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		if err == flag.ErrHelp {
			return false, err
		}
		return false, errUsage
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *devFlag {
		return true, devFlags(fs, cfg)
	}
	if *configPath == "" {
		return false, nil
	}
	// The flags' values are read before cfg, which they are bound to, is
	// overwritten by the file's.
	given := map[string]string{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = f.Value.String() })
	fileCfg := defaultConfig()
	if err := loadConfigFile(*configPath, &fileCfg); err != nil {
		return false, err
	}
	*cfg = fileCfg
	rebind := flag.NewFlagSet("", flag.ContinueOnError)
	bindFlags(rebind, cfg)
	for name, v := range given {
		if rf := rebind.Lookup(name); rf != nil {
			if err := rf.Value.Set(v); err != nil {
				return false, fmt.Errorf("-%s: %w", name, err)
			}
		}
	}
	return *devFlag, nil
}

// devSets are the flags -dev decides itself for each of its nodes.
var devSets = []string{"config", "id", "data-dir", "http", "peer", "peers", "initial-cluster-state",
	"ca-cert", "cert", "cert-key", "key", "keys-dir"}

// devFlags checks the flags given with -dev: those it sets itself are
// refused rather than ignored, and -haven, if given, is where n1 listens
// (n2 and n3 on the next ports).
func devFlags(fs *flag.FlagSet, cfg *Config) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err == nil && slices.Contains(devSets, f.Name) {
			err = fmt.Errorf("-dev cannot take -%s: it sets each of its three nodes' id, addresses, data and keys itself (-haven HOST:PORT moves them: n1 on PORT, n2 and n3 on the next ports)", f.Name)
		}
		if f.Name == "haven" {
			cfg.devHaven = cfg.Haven
		}
	})
	return err
}

// waitAndStop waits for SIGINT or SIGTERM (or a listener failing) and
// shuts the servers down.
func waitAndStop(logger *slog.Logger, servers []*server) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	code := 0
	errC := make(chan error, len(servers)*2)
	for _, s := range servers {
		go func(s *server) {
			for {
				if err := <-s.errC; err != nil {
					errC <- err
				}
			}
		}(s)
	}
	select {
	case got := <-sig:
		logger.Info("shutting down", "signal", got.String())
	case err := <-errC:
		logger.Error("listener failed", "err", err)
		code = 1
	}
	done := make(chan struct{})
	go func() {
		for _, s := range servers {
			if err := s.shutdown(2 * time.Second); err != nil {
				code = 1
			}
		}
		close(done)
	}()
	select {
	case <-done:
	case <-sig:
		logger.Warn("second signal: exiting at once")
		return 1
	}
	return code
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q is neither text nor json", format)
}
