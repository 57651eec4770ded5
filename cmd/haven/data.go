package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/havenproject/haven/netproto/client"
	"github.com/spf13/cobra"
)

// parseData reads DATA: JSON text, or "-" for JSON on stdin; with asString
// the text itself is the value.
func parseData(arg string, asString bool, stdin io.Reader) (any, error) {
	text := []byte(arg)
	if arg == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, usageError("reading stdin: %v", err)
		}
		text = bytes.TrimRight(b, "\r\n")
	}
	if asString {
		return string(text), nil
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, usageError("DATA must be JSON (%v); quote a string as '\"text\"' or use --string", err)
	}
	if dec.More() {
		return nil, usageError("DATA must be one JSON value")
	}
	return numbers(v), nil
}

// numbers turns json.Number into int64, uint64 or float64, which msgpack
// encodes as numbers (a json.Number would go out as a string).
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return u
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = numbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbers(x[k])
		}
	}
	return v
}

// dataText renders an item's value as compact JSON.
func dataText(it client.Item) string {
	v, err := it.Value()
	if err != nil {
		return fmt.Sprintf("<undecodable: %v>", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

func (a *app) printItems(items []client.Item) {
	if len(items) == 0 {
		return
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tMODIFIED\tOWNER\tDATA")
	for _, it := range items {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", it.Version, it.Modified, it.Owner, dataText(it))
	}
	tw.Flush()
}

func plural(n int, one string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %ss", n, one)
}

func (a *app) getCommand() *cobra.Command {
	var stale bool
	cmd := &cobra.Command{
		Use:   "get PATH",
		Short: "Read the list at PATH",
		Long: `Read the list at PATH: its items in version order and its version.
Reads are linearizable unless --stale, which reads the answering node's own
state (possibly stale, never torn).`,
		Example: `  haven get /data/services/api
  haven get /data/services/api --stale -o json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			return a.withClient(ctx, func(ctx context.Context, c *client.Client) error {
				var opts []client.ReadOption
				if stale {
					opts = append(opts, client.Stale())
				}
				list, err := c.Get(ctx, args[0], opts...)
				if err != nil {
					return err
				}
				if a.json() {
					return a.emitJSON(listJSON(args[0], list))
				}
				fmt.Fprintf(a.stdout, "%s: version %d, %s\n", args[0], list.Version, plural(len(list.Items), "item"))
				a.printItems(list.Items)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "read the node's own state without asking the leader")
	return cmd
}

type listOut struct {
	Path         string        `json:"path"`
	Items        []client.Item `json:"items"`
	Version      uint64        `json:"version"`
	ItemsOmitted bool          `json:"items_omitted,omitempty"`
}

func listJSON(path string, l client.List) listOut {
	items := l.Items
	if items == nil {
		items = []client.Item{}
	}
	return listOut{Path: path, Items: items, Version: l.Version, ItemsOmitted: l.ItemsOmitted}
}

func (a *app) pushCommand() *cobra.Command {
	var thenExit, asString bool
	var ifVersion int64
	cmd := &cobra.Command{
		Use:   "push PATH DATA",
		Short: "Push an item and hold it until interrupted",
		Long: `Push an item holding DATA (JSON, or - to read JSON from stdin) onto the list
at PATH. The item belongs to this command's session and lives as long as it:
haven push holds the session until interrupted (Ctrl-C ends it and the item
vanishes), or with --then-exit ends it at once, which shows the item go.

The session's token is printed (with -o json, or -v) so that another haven can
act as this session: haven --session TOKEN update ...`,
		Example: `  haven push /data/services/api '{"addr":"10.0.0.7:8080"}'
  echo '[1,2,3]' | haven push /data/numbers -
  haven push /data/config '"v2"' --if-version 17 --then-exit`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := parseData(args[1], asString, cmd.InOrStdin())
			if err != nil {
				return err
			}
			hold, stop := a.interruptible(cmd)
			defer stop()
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connectMaybeResume(ctx)
			if err != nil {
				return err
			}
			defer a.release(c)
			var opts []client.WriteOption
			if ifVersion >= 0 {
				opts = append(opts, client.IfVersion(uint64(ifVersion)))
			}
			w, err := c.Push(ctx, args[0], data, opts...)
			if err != nil {
				return err
			}
			if a.json() {
				out := map[string]any{"event": "pushed", "path": args[0], "item": w.Item, "items": nonNil(w.Items), "version": w.Version, "session": c.SessionID(), "token": c.Token()}
				if w.ItemsOmitted {
					out["items_omitted"] = true
				}
				if err := a.emitJSON(out); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "pushed item %d to %s (list version %d), owned by session %s\n", w.Item.Version, args[0], w.Version, c.SessionID())
				if a.verbose {
					fmt.Fprintf(a.stderr, "session token: %s\n", c.Token())
				}
			}
			if thenExit {
				return a.endAndReport(c, args[0], w.Item.Version)
			}
			if !a.json() {
				if a.session != "" {
					// Someone else's session: interrupting lets go of it
					// (endAndReport), and the item stays with the session.
					fmt.Fprintln(a.stdout, "holding the connection; interrupt (Ctrl-C) to let go (the session, and its item, stay with their owner)")
				} else {
					fmt.Fprintln(a.stdout, "holding the session; interrupt (Ctrl-C) to end it and remove the item")
				}
			}
			select {
			case <-hold.Done():
			case <-c.Done():
				return c.Err()
			}
			return a.endAndReport(c, args[0], w.Item.Version)
		},
	}
	cmd.Flags().BoolVar(&thenExit, "then-exit", false, "end the session right after the push (the item vanishes)")
	cmd.Flags().BoolVar(&asString, "string", false, "DATA is a plain string, not JSON")
	cmd.Flags().Int64Var(&ifVersion, "if-version", -1, "push only if the list's version still equals this (0: only onto a never-written list)")
	return cmd
}

// endAndReport ends the session (unless it is someone else's) and says so.
func (a *app) endAndReport(c *client.Client, path string, item uint64) error {
	if a.session != "" {
		c.Abandon()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		return err
	}
	if a.json() {
		return a.emitJSON(map[string]any{"event": "released", "path": path, "item": item, "session": c.SessionID()})
	}
	fmt.Fprintf(a.stdout, "session %s ended; item %d removed\n", c.SessionID(), item)
	return nil
}

func nonNil(items []client.Item) []client.Item {
	if items == nil {
		return []client.Item{}
	}
	return items
}

func parseVersion(s, what string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, usageError("%s must be a version number, not %q", what, s)
	}
	return v, nil
}

func (a *app) updateCommand() *cobra.Command {
	var asString bool
	var ifVersion int64
	cmd := &cobra.Command{
		Use:   "update PATH ITEM DATA",
		Short: "Replace the data of an item",
		Long: `Replace the data of the item whose version is ITEM on the list at PATH.
Only the item's owner may: resume its session with --session TOKEN (haven
push -o json prints it), else the answer is Forbidden.`,
		Example: `  haven --session $TOKEN update /data/config 17 '"v3"'`,
		Args:    exactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			item, err := parseVersion(args[1], "ITEM")
			if err != nil {
				return err
			}
			data, err := parseData(args[2], asString, cmd.InOrStdin())
			if err != nil {
				return err
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			return a.withClient(ctx, func(ctx context.Context, c *client.Client) error {
				var opts []client.WriteOption
				if ifVersion >= 0 {
					opts = append(opts, client.IfVersion(uint64(ifVersion)))
				}
				w, err := c.Update(ctx, args[0], item, data, opts...)
				if err != nil {
					return err
				}
				if a.json() {
					out := map[string]any{"path": args[0], "item": w.Item, "items": nonNil(w.Items), "version": w.Version}
					if w.ItemsOmitted {
						out["items_omitted"] = true
					}
					return a.emitJSON(out)
				}
				fmt.Fprintf(a.stdout, "updated item %d on %s (modified %d)\n", w.Item.Version, args[0], w.Item.Modified)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asString, "string", false, "DATA is a plain string, not JSON")
	cmd.Flags().Int64Var(&ifVersion, "if-version", -1, "update only if the list's version still equals this")
	return cmd
}

func (a *app) deleteCommand() *cobra.Command {
	var ifVersion int64
	cmd := &cobra.Command{
		Use:   "delete PATH ITEM",
		Short: "Delete an item",
		Long: `Delete the item whose version is ITEM from the list at PATH. Only its owner
may (see update).`,
		Example: `  haven --session $TOKEN delete /data/config 17`,
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			item, err := parseVersion(args[1], "ITEM")
			if err != nil {
				return err
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			return a.withClient(ctx, func(ctx context.Context, c *client.Client) error {
				var opts []client.WriteOption
				if ifVersion >= 0 {
					opts = append(opts, client.IfVersion(uint64(ifVersion)))
				}
				list, err := c.Delete(ctx, args[0], item, opts...)
				if err != nil {
					return err
				}
				if a.json() {
					return a.emitJSON(listJSON(args[0], list))
				}
				fmt.Fprintf(a.stdout, "deleted item %d from %s (list version %d, %s left)\n", item, args[0], list.Version, plural(len(list.Items), "item"))
				return nil
			})
		},
	}
	cmd.Flags().Int64Var(&ifVersion, "if-version", -1, "delete only if the list's version still equals this")
	return cmd
}

// exactArgs is cobra.ExactArgs with a usage error (exit 2).
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s takes %d argument(s), got %d (see %s --help)", cmd.Name(), n, len(args), cmd.CommandPath())
		}
		return nil
	}
}

func logger(w io.Writer) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
