package main

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/havenproject/haven/netproto"
	"github.com/havenproject/haven/netproto/client"
	"github.com/havenproject/haven/websvc"
)

// statusJSON is GET /v1/status. Its one definition is the Go client's
// (netproto/client.NodeStatus, which reads it), so that the server and its
// readers cannot drift apart.
type (
	statusJSON = client.NodeStatus
	memberJSON = client.MemberStatus
)

func (n *node) statusJSON() statusJSON {
	hs := n.status.Load()
	st := hs.Status
	out := statusJSON{
		Node: st.Node, Role: st.Role, Term: st.Term, Leader: st.Leader, LeaderAddress: st.LeaderAddress,
		Commit: st.Commit, Applied: st.Applied, Group: st.Group, Sessions: st.Sessions, Watches: st.Watches, RemovedAt: st.RemovedAt,
		HavenAddress: n.cfg.Haven, HTTPAddress: n.cfg.HTTP, Members: []memberJSON{},
	}
	for _, m := range st.Members {
		out.Members = append(out.Members, memberJSON{ID: netproto.FormatNodeID(m.ID), Role: m.Role,
			Address: m.Address, HTTPAddress: hs.addrs[m.ID].HTTP, Match: m.Match})
	}
	return out
}

// httpHandler serves /v1/status, /metrics and /healthz, and hands
// everything else to site (websvc once it is mounted; a placeholder page
// until then).
func (n *node) httpHandler(site http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(n.statusJSON())
	})
	mux.HandleFunc("OPTIONS /v1/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.m.reg, promhttp.HandlerOpts{}))
	if n.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	// Healthy: the loop runs and the node knows a leader (it can serve
	// reads and forward writes).
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		st := n.Status()
		select {
		case <-n.doneC:
			http.Error(w, "stopped\n", http.StatusServiceUnavailable)
			return
		default:
		}
		if st.Leader == "" {
			http.Error(w, "no leader\n", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	if site == nil {
		site = http.HandlerFunc(placeholder)
	}
	mux.Handle("/", site)
	// Everything but the node's own three paths goes to the site as it
	// came: ServeMux would clean /data//x and redirect it, where
	// PROTOCOL.md wants 400 InvalidParameter.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/status", "/metrics", "/healthz":
			// PROTOCOL.md: "?version=1 on the upgrade or on HTTP
			// requests": another version is refused here as websvc
			// refuses it on its paths.
			if websvc.RefuseVersion(w, r) {
				return
			}
			mux.ServeHTTP(w, r)
		default:
			if n.cfg.Pprof && strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
				mux.ServeHTTP(w, r)
				return
			}
			site.ServeHTTP(w, r)
		}
	})
}

func placeholder(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<!doctype html><title>Haven</title><h1>Haven</h1>
<p>This node is running. The dashboard comes with websvc; until then see
<a href="/v1/status">/v1/status</a>, <a href="/metrics">/metrics</a> and <a href="/healthz">/healthz</a>.</p>
`))
}
