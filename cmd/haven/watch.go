package main

import (
	"context"
	"fmt"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/netproto/client"
	"github.com/spf13/cobra"
)

func (a *app) watchCommand() *cobra.Command {
	var since int64
	var count int
	cmd := &cobra.Command{
		Use:   "watch PATH",
		Short: "Stream the changes of a list",
		Long: `Print the list at PATH, then every change to it as it happens, in log order,
until interrupted. The stream survives the failure of the node it is
connected to: the client resumes its session on another node and asks for
the events after the last one it printed, so none is missed or repeated. If
the session itself ends, a new one continues from the same version. When a
node no longer has the events asked for, a "reset" line gives the list as
it is now.

With --since V the events after V come first, then the live ones. The first
line is the list as it is when the watch is registered, so replayed events
may be older than it: they are the history, not changes to apply to it. A
node answers only once it has applied through V, so a V beyond the log
waits, and ends Unavailable at --timeout.

With -o json the first line is the list ({"path","items","version"}) and
each further line one event ({"path","version","kind","item"}; kind is push,
update, delete or reset).`,
		Example: `  haven watch /data/services/api
  haven watch /data/services/api --since 120 -o json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := a.interruptible(cmd)
			defer stop()
			path := args[0]
			var opts []client.WatchOption
			if since >= 0 {
				opts = append(opts, client.WatchSince(uint64(since)))
			}
			printed := 0
			first := true
			for {
				cctx, cancel := context.WithTimeout(ctx, a.timeout)
				c, err := a.connectMaybeResume(cctx)
				if err != nil {
					cancel()
					return err
				}
				w, err := c.Watch(cctx, path, opts...)
				cancel()
				if err != nil {
					a.release(c)
					return err
				}
				if first {
					first = false
					if a.json() {
						if err := a.emitJSON(listJSON(path, client.List{Items: w.Items, Version: w.Version})); err != nil {
							return err
						}
					} else {
						fmt.Fprintf(a.stdout, "%s: version %d, %s\n", path, w.Version, plural(len(w.Items), "item"))
						a.printItems(w.Items)
					}
				}
				last := w.Version
				if since >= 0 && uint64(since) < last {
					last = uint64(since)
				}
				for ev, err := range w.All(ctx) {
					if err != nil {
						break
					}
					last = max(last, ev.Version)
					if err := a.printEvent(ev); err != nil {
						return err
					}
					printed++
					if count > 0 && printed >= count {
						a.release(c)
						return nil
					}
				}
				if ctx.Err() != nil {
					a.release(c)
					return nil
				}
				err = w.Err()
				a.release(c)
				if client.CodeOf(err) != fsm.SessionExpired || a.session != "" {
					return err
				}
				// The session ended (a long outage): carry on in a new one
				// from the last version printed.
				if a.verbose {
					fmt.Fprintf(a.stderr, "session ended; continuing after version %d in a new one\n", last)
				}
				opts = []client.WatchOption{client.WatchSince(last)}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(100 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().Int64Var(&since, "since", -1, "start with the events after this version (default: from now)")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many events (0: never)")
	return cmd
}

func (a *app) printEvent(ev client.Event) error {
	if a.json() {
		if ev.Kind == client.KindReset {
			return a.emitJSON(map[string]any{"path": ev.Path, "version": ev.Version, "kind": ev.Kind, "items": nonNil(ev.Items)})
		}
		return a.emitJSON(ev)
	}
	if ev.Kind == client.KindReset {
		fmt.Fprintf(a.stdout, "reset   version %d: the node no longer had the events since the last one shown; the list now has %s\n", ev.Version, plural(len(ev.Items), "item"))
		a.printItems(ev.Items)
		return nil
	}
	fmt.Fprintf(a.stdout, "%-7s version %d  item %d  owner %s  data %s\n", ev.Kind, ev.Version, ev.Item.Version, ev.Item.Owner, dataText(ev.Item))
	return nil
}
