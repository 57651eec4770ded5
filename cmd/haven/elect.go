package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/netproto/client"
	"github.com/spf13/cobra"
)

func (a *app) electCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "elect PATH",
		Short: "Campaign for leadership on PATH until interrupted",
		Long: `Campaign in the election on PATH: push a candidacy holding --name, wait
until it is the lowest version on the list, then print that it leads and its
fencing token (the item's version, which only grows from one leader to the
next). Interrupt to resign. If the session ends while leading (the cluster
lost it), haven says so and exits with SessionExpired.

With -o json each step is one line: {"event":"waiting"|"leading"|"resigned"|"lost", ...}.`,
		Example: `  haven elect /data/election/scheduler --name worker-7`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if name == "" {
				host, _ := os.Hostname()
				name = fmt.Sprintf("%s-%d", host, os.Getpid())
			}
			ctx, stop := a.interruptible(cmd)
			defer stop()
			cctx, cancel := context.WithTimeout(ctx, a.timeout)
			c, err := a.connectMaybeResume(cctx)
			cancel()
			if err != nil {
				return err
			}
			defer a.release(c)
			if cur, ok, err := client.Leader(ctx, c, path); err == nil && ok {
				a.report("waiting", path, name, c, map[string]any{"leader": cur.Version, "leader_name": valueOf(cur)},
					fmt.Sprintf("waiting: %s is led by item %d (%s)", path, cur.Version, dataText(cur)))
			}
			e := client.NewElection(c, path)
			token, err := e.Campaign(ctx, name)
			if err != nil {
				if ctx.Err() != nil {
					return nil // interrupted while waiting: Campaign withdrew
				}
				return err
			}
			a.report("leading", path, name, c, map[string]any{"token": token},
				fmt.Sprintf("leading %s as %s with fencing token %d", path, name, token))
			select {
			case <-ctx.Done():
				rctx, cancel := context.WithTimeout(context.Background(), a.timeout)
				defer cancel()
				if err := e.Resign(rctx); err != nil {
					return err
				}
				a.report("resigned", path, name, c, map[string]any{"token": token}, "resigned")
				return nil
			case <-e.Lost():
				a.report("lost", path, name, c, map[string]any{"token": token}, "lost leadership: the session ended")
				return &client.Error{Code: fsm.SessionExpired, Op: "elect", Message: "leadership lost: the session ended"}
			}
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "this candidate's name, stored in its item (default host-pid)")
	return cmd
}

func valueOf(it client.Item) any {
	v, _ := it.Value()
	return v
}

// report prints one step of elect or lock: a JSON line, or text.
func (a *app) report(event, path, name string, c *client.Client, extra map[string]any, text string) {
	if a.json() {
		m := map[string]any{"event": event, "path": path, "session": c.SessionID()}
		if name != "" {
			m["name"] = name
		}
		for k, v := range extra {
			m[k] = v
		}
		_ = a.emitJSON(m)
		return
	}
	fmt.Fprintln(a.stdout, text)
}

func (a *app) lockCommand() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "lock PATH -- CMD [ARGS...]",
		Short: "Run a command while holding a lock",
		Long: `Take the lock on PATH (the election recipe: the lowest version holds it),
run CMD with HAVEN_LOCK_PATH and HAVEN_LOCK_TOKEN (the fencing token) in its
environment, and release the lock when CMD ends. haven exits with CMD's
status (127 if CMD is not found, 126 if it cannot be run; the lock is then
not taken). If the lock is lost while CMD runs (the session ended), CMD is sent
SIGTERM and haven exits with SessionExpired. Messages go to stderr, so CMD's
output is its own.`,
		Example: `  haven lock /data/locks/backup -- ./backup.sh --full`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 || len(args) < 2 {
				return usageError("usage: haven lock PATH -- CMD [ARGS...]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			path, argv := args[0], args[1:]
			// Before the lock is taken: no lock for a command that cannot run.
			if _, err := exec.LookPath(argv[0]); err != nil {
				return a.cannotRun(argv[0], err)
			}
			ctx, stop := a.interruptible(cmd)
			defer stop()
			cctx, cancel := context.WithTimeout(ctx, a.timeout)
			c, err := a.connectMaybeResume(cctx)
			cancel()
			if err != nil {
				return err
			}
			defer a.release(c)
			lctx := ctx
			if wait > 0 {
				var cancel context.CancelFunc
				lctx, cancel = context.WithTimeout(ctx, wait)
				defer cancel()
			}
			m := client.NewMutex(c, path)
			token, err := m.Lock(lctx)
			if err != nil {
				if ctx.Err() != nil {
					return exitError{130}
				}
				return err
			}
			a.note("locked", path, token, c)
			child := exec.Command(argv[0], argv[1:]...)
			child.Stdin, child.Stdout, child.Stderr = os.Stdin, a.stdout, a.stderr
			child.Env = append(os.Environ(), "HAVEN_LOCK_PATH="+path, "HAVEN_LOCK_TOKEN="+strconv.FormatUint(token, 10))
			if err := child.Start(); err != nil {
				_ = m.Unlock(context.Background())
				return a.cannotRun(argv[0], err)
			}
			exited := make(chan error, 1)
			go func() { exited <- child.Wait() }()
			var runErr error
			lost := false
			select {
			case runErr = <-exited:
			case <-m.Lost():
				lost = true
				_ = child.Process.Signal(syscall.SIGTERM)
				runErr = <-exited
			case <-ctx.Done():
				_ = child.Process.Signal(syscall.SIGTERM)
				runErr = <-exited
			}
			uctx, cancel := context.WithTimeout(context.Background(), a.timeout)
			defer cancel()
			if !lost {
				_ = m.Unlock(uctx)
				a.note("unlocked", path, token, c)
			}
			if lost {
				return &client.Error{Code: fsm.SessionExpired, Op: "lock", Message: "lock lost while the command ran: the session ended"}
			}
			var ee *exec.ExitError
			if errors.As(runErr, &ee) {
				if ee.ExitCode() < 0 {
					return exitError{128 + int(syscall.SIGTERM)}
				}
				return exitError{ee.ExitCode()}
			}
			return runErr
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "give up (Unavailable) if the lock is not had within this time (0: wait for ever)")
	return cmd
}

// cannotRun reports a command lock cannot start and exits as env(1),
// nohup(1) and timeout(1) do: 127 if it is not found, 126 otherwise.
func (a *app) cannotRun(name string, err error) error {
	fmt.Fprintf(a.stderr, "haven: cannot run %s: %v\n", name, err)
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return exitError{127}
	}
	return exitError{126}
}

// note prints a lock step on stderr (stdout belongs to the command).
func (a *app) note(event, path string, token uint64, c *client.Client) {
	if a.json() {
		b := fmt.Sprintf(`{"event":%q,"path":%q,"token":%d,"session":%q}`, event, path, token, c.SessionID())
		fmt.Fprintln(a.stderr, b)
		return
	}
	fmt.Fprintf(a.stderr, "haven: %s %s (fencing token %d)\n", event, path, token)
}
