// Command haven is the command-line client of a Haven cluster: read, push,
// watch, elect, lock, inspect and change the cluster, and benchmark it.
//
//	haven [--endpoints a,b,c] [--ttl 5s] [-o text|json] COMMAND
//
// Commands: get, push (holds its item until interrupted), update, delete,
// watch (streams events across failovers), elect, lock PATH -- CMD, status,
// members, become, discover, version, bench (push, read, watch,
// close-notify, failover) and completion (bash, zsh, ...).
//
// Every command has --help. Output is readable text by default; -o json
// prints one JSON value per line (streams print one per event). Errors name
// the contract's code and exit non-zero (see "haven --help" for the codes).
// The commands are built on the Go client, netproto/client.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/netproto/client"
	"github.com/spf13/cobra"
)

// defaultEndpoints covers both `havend` (7400) and `havend -dev` (7401-7403).
const defaultEndpoints = "127.0.0.1:7400,127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403"

// exitCodes gives each contract code its own exit status, so scripts can
// tell a Conflict from an outage without parsing messages.
var exitCodes = map[fsm.Code]int{
	fsm.InvalidParameter: 2,
	fsm.InternalError:    3,
	fsm.Unavailable:      4,
	fsm.Conflict:         5,
	fsm.NotFound:         6,
	fsm.Forbidden:        7,
	fsm.SessionExpired:   8,
	fsm.TooLarge:         9,
	fsm.Unsupported:      10,
}

const exitHelp = `Exit status: 0 on success; on an error, by its code:
  2 InvalidParameter (also bad usage)   3 InternalError   4 Unavailable
  5 Conflict   6 NotFound   7 Forbidden   8 SessionExpired   9 TooLarge
  10 Unsupported. "lock PATH -- CMD" exits with CMD's status (127: CMD not
  found, 126: CMD cannot be run).`

// app is the state shared by every command: the global flags.
type app struct {
	endpoints string
	ttl       time.Duration
	timeout   time.Duration
	output    string
	session   string
	verbose   bool

	stdout, stderr io.Writer
}

// exitError carries an exit status chosen by a command (lock's child).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is bad usage: exit 2 with the message.
func usageError(format string, args ...any) error {
	return &client.Error{Code: fsm.InvalidParameter, Message: fmt.Sprintf(format, args...)}
}

func main() {
	a := &app{stdout: os.Stdout, stderr: os.Stderr}
	root := a.rootCommand()
	err := root.Execute()
	os.Exit(a.exitStatus(err))
}

func (a *app) exitStatus(err error) int {
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	code := client.CodeOf(err)
	var herr *client.Error
	if !errors.As(err, &herr) {
		// cobra's own errors (unknown flag, wrong arguments) are usage.
		code = fsm.InvalidParameter
		if errors.Is(err, context.Canceled) {
			return 130
		}
	}
	msg := err.Error()
	if herr != nil {
		msg = herr.Message
		if herr.Op != "" {
			msg = herr.Op + ": " + msg
		}
		if herr.Node != "" {
			msg += " (node " + herr.Node + ")"
		}
	}
	if a.output == "json" {
		b, _ := json.Marshal(map[string]string{"code": string(code), "message": msg})
		fmt.Fprintln(a.stderr, string(b))
	} else {
		fmt.Fprintf(a.stderr, "Error: %s: %s\n", code, msg)
	}
	if s, ok := exitCodes[code]; ok {
		return s
	}
	return 1
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "haven",
		Short: "The command-line client of a Haven cluster",
		Long: `haven reads, writes and watches the lists of a Haven cluster, runs leader
elections and locks on them, shows and changes the cluster, and benchmarks it.

Every path (/data/...) is a list of items owned by sessions; an item vanishes
when its session ends. Each haven command opens a session and closes it when
it is done, unless --session resumes one that another haven holds.

Endpoints come from --endpoints, else $HAVEN_ENDPOINTS, else the local
defaults of havend and havend -dev.

` + exitHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if a.output != "text" && a.output != "json" {
				return usageError("-o must be text or json, not %q", a.output)
			}
			if talksToCluster(cmd) {
				return a.checkEndpoints()
			}
			return nil
		},
	}
	env := os.Getenv("HAVEN_ENDPOINTS")
	if env == "" {
		env = defaultEndpoints
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.endpoints, "endpoints", env, "Haven addresses of the cluster, comma-separated ($HAVEN_ENDPOINTS)")
	pf.DurationVar(&a.ttl, "ttl", 5*time.Second, "session time to live (the server clamps it)")
	pf.DurationVar(&a.timeout, "timeout", 10*time.Second, "time limit of a one-shot command")
	pf.StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	pf.StringVar(&a.session, "session", os.Getenv("HAVEN_SESSION"), "resume the session with this token instead of opening one, and leave it open ($HAVEN_SESSION)")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "log reconnects and failovers to stderr")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError("%v", err) })

	root.AddCommand(a.getCommand(), a.pushCommand(), a.updateCommand(), a.deleteCommand(),
		a.watchCommand(), a.electCommand(), a.lockCommand(),
		a.statusCommand(), a.membersCommand(), a.becomeCommand(), a.discoverCommand(),
		a.versionCommand(), a.benchCommand())
	return root
}

// talksToCluster is false for the commands that need no endpoints.
func talksToCluster(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		switch c.Name() {
		case "version", "completion", "help":
			return false
		}
	}
	return true
}

// checkEndpoints refuses, as bad usage, an endpoint that is no host:port
// with a port number: dialing it would only fail later as Unavailable.
func (a *app) checkEndpoints() error {
	for _, e := range a.endpointList() {
		_, port, err := net.SplitHostPort(e)
		if err != nil {
			return usageError("--endpoints (or $HAVEN_ENDPOINTS): %q is not host:port: %v", e, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return usageError("--endpoints (or $HAVEN_ENDPOINTS): %q: the port must be a number from 1 to 65535", e)
		}
	}
	return nil
}

func (a *app) endpointList() []string {
	var out []string
	for _, e := range strings.Split(a.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// connect opens (or resumes, with --session) a session.
func (a *app) connect(ctx context.Context) (*client.Client, error) {
	cfg := client.Config{Endpoints: a.endpointList(), TTL: a.ttl, Ordered: true}
	if a.verbose {
		cfg.Logger = logger(a.stderr)
	}
	if len(cfg.Endpoints) == 0 {
		return nil, usageError("no endpoints")
	}
	c, err := client.Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// withClient runs fn with a session and ends it afterwards (unless it was
// resumed with --session: then it belongs to someone else).
func (a *app) withClient(ctx context.Context, fn func(ctx context.Context, c *client.Client) error) error {
	c, err := a.connectMaybeResume(ctx)
	if err != nil {
		return err
	}
	defer a.release(c)
	return fn(ctx, c)
}

func (a *app) release(c *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if a.session != "" {
		c.Abandon()
		return
	}
	_ = c.Close(ctx)
}

func (a *app) connectMaybeResume(ctx context.Context) (*client.Client, error) {
	if a.session == "" {
		return a.connect(ctx)
	}
	cfg := client.Config{Endpoints: a.endpointList(), TTL: a.ttl, Ordered: true, Token: a.session}
	if a.verbose {
		cfg.Logger = logger(a.stderr)
	}
	return client.Connect(ctx, cfg)
}

// oneShot is the context of a one-shot command: --timeout, and interrupts.
func (a *app) oneShot(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	return ctx, func() { cancel(); stop() }
}

// interruptible is the context of a command that runs until interrupted.
func (a *app) interruptible(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

// emitJSON prints v as one line of JSON.
func (a *app) emitJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.stdout, string(b))
	return err
}

func (a *app) json() bool { return a.output == "json" }
