package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// havend init refuses what it cannot do right: stray arguments (which
// would end flag parsing and leave -dir at its default), values out of
// range, and a directory that already holds a cluster, whose CA and keys
// it would replace under running nodes.
func TestInitRefusesBadUsageAndAnExistingCluster(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	run := func(args ...string) (int, string) {
		var out, errs bytes.Buffer
		code := runInit(args, &out, &errs)
		return code, errs.String()
	}
	for _, args := range [][]string{
		{"extra", "-dir", dir},
		{"-dir", dir, "-nodes", "0"},
		{"-dir", dir, "-nodes", "3", "-initial", "5"},
		{"-dir", dir, "-base-port", "70000"},
	} {
		code, msg := run(args...)
		require.Equal(t, 2, code, "%v: %s", args, msg)
		require.NotEmpty(t, msg)
	}
	_, err := os.Stat(dir)
	require.True(t, os.IsNotExist(err), "a refused init wrote %s", dir)

	code, msg := run("-dir", dir, "-nodes", "1", "-base-port", "18401")
	require.Equal(t, 0, code, msg)
	before, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	require.NoError(t, err)
	code, msg = run("-dir", dir, "-nodes", "1", "-base-port", "18401")
	require.Equal(t, 1, code)
	require.Contains(t, msg, "already holds a cluster")
	after, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	require.NoError(t, err)
	require.Equal(t, before, after, "the second init replaced the CA key")
}

// Help that was asked for goes to stdout, for init, dump and the server;
// after a mistake the usage goes to stderr with it.
func TestHelpGoesToStdoutMistakesToStderr(t *testing.T) {
	for name, runner := range map[string]func([]string, *bytes.Buffer, *bytes.Buffer) int{
		"havend":      func(a []string, o, e *bytes.Buffer) int { return run(a, o, e) },
		"havend init": func(a []string, o, e *bytes.Buffer) int { return runInit(a, o, e) },
		"havend dump": func(a []string, o, e *bytes.Buffer) int { return runDump(a, o, e) },
	} {
		var out, errs bytes.Buffer
		require.Equal(t, 0, runner([]string{"-h"}, &out, &errs), name)
		require.Contains(t, out.String(), name, "%s -h prints its usage to stdout", name)
		require.Empty(t, errs.String(), name)

		out.Reset()
		errs.Reset()
		require.Equal(t, 2, runner([]string{"-no-such-flag"}, &out, &errs), name)
		require.Empty(t, out.String(), name)
		require.Contains(t, errs.String(), "flag provided but not defined: -no-such-flag", name)
		require.Contains(t, errs.String(), name, "%s: the usage follows the mistake", name)
	}
}
