package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/netproto/client"
	"github.com/spf13/cobra"
)

// nodeView is one row of `haven status`: a member and what its
// /v1/status said, or why it did not answer.
type nodeView struct {
	ID          string             `json:"id"`
	Address     string             `json:"address"`
	HTTPAddress string             `json:"http_address"`
	Status      *client.NodeStatus `json:"status,omitempty"`
	Error       string             `json:"error,omitempty"`
}

// clusterView finds the members from the first node whose /v1/status
// answers (HTTP addresses from --http, then from the endpoints by the
// default port layout), or from the leader that node names, then asks
// every member for its own status.
func (a *app) clusterView(ctx context.Context, httpAddrs []string) ([]nodeView, *client.NodeStatus, error) {
	// --http first ("ask first"), then the endpoints' HTTP addresses.
	httpAddrs = slices.Clone(httpAddrs)
	for _, e := range a.endpointList() {
		if h := client.DefaultHTTPAddress(e); !slices.Contains(httpAddrs, h) {
			httpAddrs = append(httpAddrs, h)
		}
	}
	var first *client.NodeStatus
	var lastErr error
	for _, h := range httpAddrs {
		st, err := client.FetchStatus(ctx, h)
		if err == nil {
			first = &st
			break
		}
		lastErr = err
	}
	if first == nil {
		if lastErr == nil {
			lastErr = usageError("no endpoints")
		}
		return nil, nil, lastErr
	}
	// The members are the leader's view if it answers: it knows the
	// newest configuration and each member's match index (a follower
	// shows 0 for every one).
	if first.Role != "leader" && first.Leader != "" {
		for _, m := range first.Members {
			if m.ID != first.Leader {
				continue
			}
			h := m.HTTPAddress
			if h == "" {
				h = client.DefaultHTTPAddress(m.Address)
			}
			if st, err := client.FetchStatus(ctx, h); err == nil && st.Role == "leader" {
				first = &st
			}
		}
	}
	var views []nodeView
	for _, m := range first.Members {
		h := m.HTTPAddress
		if h == "" {
			h = client.DefaultHTTPAddress(m.Address)
		}
		views = append(views, nodeView{ID: m.ID, Address: m.Address, HTTPAddress: h})
	}
	if len(views) == 0 { // a node that lists no members: show itself
		views = append(views, nodeView{ID: first.Node, Address: first.HavenAddress, HTTPAddress: first.HTTPAddress})
	}
	sort.Slice(views, func(i, j int) bool { return views[i].ID < views[j].ID })
	var wg sync.WaitGroup
	for i := range views {
		wg.Add(1)
		go func(v *nodeView) {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			st, err := client.FetchStatus(sctx, v.HTTPAddress)
			if err != nil {
				v.Error = err.Error()
				return
			}
			v.Status = &st
		}(&views[i])
	}
	wg.Wait()
	return views, first, nil
}

func (a *app) statusCommand() *cobra.Command {
	var httpAddrs []string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every node: role, term, leader, commit and applied index",
		Long: `Show a table of every member of the cluster, from each node's own
GET /v1/status on its HTTP address: id, address, role, term, the leader it
knows, its commit and applied index. The members come from the leader
named by the first node that answers, or that node if the leader does not
answer; the addresses asked are those of --http first, then the
endpoints' by the default port layout (the Haven port + 80). A member
that does not answer is shown as unreachable, and haven exits Unavailable
if none of them answers.

With -o json: one line, an array of {"id","address","http_address","status"|"error"}.`,
		Example: `  haven status
  haven status --http 127.0.0.1:7481 -o json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			views, _, err := a.clusterView(ctx, httpAddrs)
			if err != nil {
				return err
			}
			if a.json() {
				if err := a.emitJSON(views); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tADDRESS\tHTTP\tROLE\tTERM\tLEADER\tCOMMIT\tAPPLIED\tSESSIONS\tWATCHES")
				for _, v := range views {
					if v.Status == nil {
						fmt.Fprintf(tw, "%s\t%s\t%s\tunreachable\t-\t-\t-\t-\t-\t-\n", v.ID, v.Address, v.HTTPAddress)
						continue
					}
					s := v.Status
					leader := s.Leader
					if leader == "" {
						leader = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\n", v.ID, v.Address, v.HTTPAddress, s.Role, s.Term, leader, s.Commit, s.Applied, s.Sessions, s.Watches)
				}
				tw.Flush()
				for _, v := range views {
					if v.Error != "" {
						fmt.Fprintf(a.stderr, "%s: %s\n", v.ID, v.Error)
					}
				}
			}
			for _, v := range views {
				if v.Status != nil {
					return nil
				}
			}
			return &client.Error{Code: fsm.Unavailable, Op: "status", Message: "no member answered"}
		},
	}
	cmd.Flags().StringSliceVar(&httpAddrs, "http", nil, "HTTP addresses to ask first, before the endpoints' ports + 80")
	return cmd
}

func (a *app) membersCommand() *cobra.Command {
	var httpAddrs []string
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the cluster's members",
		Long: `List the members of the cluster (id, voter or learner, Haven and HTTP
address, the leader's match index for it) as the leader knows them: the
leader named by the first node that answers GET /v1/status, or that node
if the leader does not answer (a follower shows match 0). If no HTTP address answers, the Haven protocol's
discover location names the members' addresses alone.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			_, first, err := a.clusterView(ctx, httpAddrs)
			if err != nil {
				return a.membersByDiscover(ctx)
			}
			members := first.Members
			if members == nil {
				members = []client.MemberStatus{}
			}
			if a.json() {
				return a.emitJSON(members)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tROLE\tADDRESS\tHTTP\tMATCH")
			for _, m := range members {
				h := m.HTTPAddress
				if h == "" {
					h = client.DefaultHTTPAddress(m.Address)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", m.ID, m.Role, m.Address, h, m.Match)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringSliceVar(&httpAddrs, "http", nil, "HTTP addresses to ask first, before the endpoints' ports + 80")
	return cmd
}

func (a *app) membersByDiscover(ctx context.Context) error {
	return a.withClient(ctx, func(ctx context.Context, c *client.Client) error {
		_, all, err := c.DiscoverLocations(ctx)
		if err != nil {
			return err
		}
		if a.json() {
			var out []map[string]string
			for _, addr := range all {
				out = append(out, map[string]string{"address": addr})
			}
			return a.emitJSON(out)
		}
		fmt.Fprintln(a.stdout, "ADDRESS")
		for _, addr := range all {
			fmt.Fprintln(a.stdout, addr)
		}
		return nil
	})
}

func (a *app) becomeCommand() *cobra.Command {
	var address string
	cmd := &cobra.Command{
		Use:   "become learner|voter|removed|leader NODE",
		Short: "Change the cluster: add, promote, remove a node, or move leadership",
		Long: `Change the cluster's membership (PROTOCOL.md, "become"):
  learner NODE --address HOST:PORT   add NODE as a non-voting member
  voter NODE                         promote the learner NODE once caught up
  removed NODE                       remove NODE
  leader NODE                        transfer leadership to NODE`,
		Example: `  haven become learner n4 --address 127.0.0.1:7404
  haven become voter n4
  haven become leader n4
  haven become removed n1`,
		Args: exactArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"learner", "voter", "removed", "leader"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kind := client.BecomeKind(args[0])
			switch kind {
			case client.BecomeLearner:
				if address == "" {
					return usageError("become learner needs --address")
				}
			case client.BecomeVoter, client.BecomeRemoved, client.BecomeLeader:
			default:
				return usageError("become takes learner, voter, removed or leader, not %q", args[0])
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			return a.withClient(ctx, func(ctx context.Context, c *client.Client) error {
				if err := c.Become(ctx, kind, args[1], address); err != nil {
					return err
				}
				if a.json() {
					return a.emitJSON(map[string]any{"result": true, "type": kind, "node": args[1], "address": address})
				}
				switch kind {
				case client.BecomeLearner:
					fmt.Fprintf(a.stdout, "%s added as a learner at %s\n", args[1], address)
				case client.BecomeVoter:
					fmt.Fprintf(a.stdout, "%s promoted to voter\n", args[1])
				case client.BecomeRemoved:
					fmt.Fprintf(a.stdout, "%s removed\n", args[1])
				case client.BecomeLeader:
					fmt.Fprintf(a.stdout, "leadership transferred to %s\n", args[1])
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&address, "address", "", "the node's Haven address (for learner)")
	return cmd
}

func (a *app) discoverCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "discover quorum [PATH] | uuid NODE | location",
		Short: "Ask where a quorum, a node or the cluster's members are",
		Long: `Ask the cluster (PROTOCOL.md, "discover"):
  quorum [PATH]   the address of the leader serving PATH (default
                  /data/default: today one quorum serves every path)
  uuid NODE       the Haven address of the node with id NODE
  location        the location the node names (the leader's address, or its
                  own while there is none) and every member's address`,
		Example: `  haven discover quorum /data/services
  haven discover uuid n2
  haven discover location -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("discover takes quorum, uuid or location")
			}
			switch args[0] {
			case "quorum":
				if len(args) > 2 {
					return usageError("discover quorum takes at most a PATH")
				}
			case "uuid":
				if len(args) != 2 {
					return usageError("discover uuid takes a NODE id")
				}
			case "location":
				if len(args) != 1 {
					return usageError("discover location takes no argument")
				}
			default:
				return usageError("discover takes quorum, uuid or location, not %q", args[0])
			}
			return nil
		},
		ValidArgs: []string{"quorum", "uuid", "location"},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			return a.withClient(ctx, func(ctx context.Context, c *client.Client) error {
				switch args[0] {
				case "quorum", "uuid":
					var loc string
					var err error
					if args[0] == "quorum" {
						path := "/data/default"
						if len(args) == 2 {
							path = args[1]
						}
						loc, err = c.DiscoverQuorum(ctx, path)
					} else {
						loc, err = c.DiscoverNode(ctx, args[1])
					}
					if err != nil {
						return err
					}
					if a.json() {
						return a.emitJSON(map[string]any{"location": loc})
					}
					fmt.Fprintln(a.stdout, loc)
				default:
					self, all, err := c.DiscoverLocations(ctx)
					if err != nil {
						return err
					}
					if all == nil {
						all = []string{}
					}
					if a.json() {
						return a.emitJSON(map[string]any{"location": self, "locations": all})
					}
					fmt.Fprintf(a.stdout, "location %s\nmembers:\n  %s\n", self, strings.Join(all, "\n  "))
				}
				return nil
			})
		},
	}
	return cmd
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print haven's version and the protocol it speaks",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
			}
			if a.json() {
				return a.emitJSON(map[string]any{"version": version, "protocol": "1", "go": runtime.Version(), "revision": rev})
			}
			fmt.Fprintf(a.stdout, "haven %s (Haven protocol 1, %s", version, runtime.Version())
			if rev != "" {
				fmt.Fprintf(a.stdout, ", revision %s", rev)
			}
			fmt.Fprintln(a.stdout, ")")
			return nil
		},
	}
}
