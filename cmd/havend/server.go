package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/havenproject/haven/netproto"
	"github.com/havenproject/haven/websvc"
)

// server is one node with its listeners: Haven (TCP), HTTP, and the peer
// transport.
type server struct {
	cfg   *Config
	log   *slog.Logger
	node  *node
	haven *netproto.Server
	http  *http.Server
	tr    transport

	havenLn, httpLn net.Listener
	errC            chan error
}

// startServer opens the node and its listeners. makeTransport builds the
// peer transport once the node exists (it needs the node's deliver).
func startServer(cfg *Config, logger *slog.Logger, makeTransport func(*node) (transport, error)) (*server, error) {
	m := newMetrics(cfg.ID, 1)
	n, err := openNode(cfg, logger, m)
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, log: n.log, node: n, errC: make(chan error, 4)}
	fail := func(err error) (*server, error) {
		s.closeListeners()
		if s.tr != nil {
			s.tr.Close()
		}
		n.wal.Close()
		n.dir.close()
		return nil, err
	}
	if s.havenLn, err = net.Listen("tcp", cfg.Haven); err != nil {
		return fail(fmt.Errorf("haven listener: %w", err))
	}
	if s.httpLn, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return fail(fmt.Errorf("http listener: %w", err))
	}
	if s.tr, err = makeTransport(n); err != nil {
		return fail(fmt.Errorf("peer transport: %w", err))
	}
	n.start(s.tr)
	s.haven = netproto.NewServer(n, netproto.Options{
		MaxMessageBytes: cfg.MaxMessageBytes, MaxInflight: cfg.MaxInflight, Logger: n.log,
		Observe:     m.observeRequest,
		ConnChanged: func(d int) { m.connections.Add(float64(d)) },
	})
	// Vera (websvc) serves everything on the HTTP listener but /v1/status,
	// /metrics and /healthz; pages of every member's origin may use it.
	var httpAddrs []string
	for _, p := range cfg.Peers {
		httpAddrs = append(httpAddrs, p.HTTP)
	}
	site := websvc.New(n, websvc.Config{
		AllowedOrigins: websvc.Origins(httpAddrs, false), MaxMessageBytes: cfg.MaxMessageBytes, Logger: n.log,
	})
	s.http = &http.Server{Handler: n.httpHandler(site), ReadHeaderTimeout: 10 * time.Second}
	go func() { s.errC <- ignoreClosed(s.haven.Serve(s.havenLn)) }()
	go func() { s.errC <- ignoreClosed(s.http.Serve(s.httpLn)) }()
	n.log.Info("serving", "haven", cfg.Haven, "http", cfg.HTTP, "peer", s.peerListen())
	return s, nil
}

// peerListen is the peer address the node listens on, or why it has none:
// a node of one started without certificates opens no peer listener.
func (s *server) peerListen() string {
	if _, none := s.tr.(nullTransport); none {
		return noPeerListener
	}
	return s.cfg.Peer
}

const noPeerListener = "none: without certificates a cluster of one cannot grow"

func ignoreClosed(err error) error {
	if errors.Is(err, netproto.ErrServerClosed) || errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (s *server) closeListeners() {
	if s.havenLn != nil {
		s.havenLn.Close()
	}
	if s.httpLn != nil {
		s.httpLn.Close()
	}
}

// shutdown stops the node gracefully: no new requests, the ones in flight
// answered (or Unavailable after the grace period), then the loop, the
// transport and the WAL.
func (s *server) shutdown(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	_ = s.haven.Shutdown(ctx)
	hctx, hcancel := context.WithTimeout(context.Background(), time.Second)
	defer hcancel()
	_ = s.http.Shutdown(hctx)
	err := s.node.stop()
	s.tr.Close()
	if err != nil {
		s.log.Error("closing the WAL", "err", err)
	} else {
		s.log.Info("stopped; WAL closed")
	}
	return err
}
