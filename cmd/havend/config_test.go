package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "n2.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
id: n2
data_dir: /var/lib/haven
haven: 10.0.0.2:7402
snapshot_every: 100
tick: 20ms
peers:
  - {id: n1, haven: 10.0.0.1:7401}
  - {id: n2, haven: 10.0.0.2:7402, http: 10.0.0.2:9000}
`), 0o600))
	var cfg Config
	_, err := parseArgs([]string{"-config", path, "-snapshot-every", "7", "-log-level", "warn"}, &cfg, io.Discard, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "n2", cfg.ID)
	require.Equal(t, uint64(7), cfg.SnapshotEvery, "a flag wins over the file")
	require.Equal(t, 20*time.Millisecond, cfg.Tick, "the file wins over the default")
	require.Equal(t, "warn", cfg.LogLevel)
	require.NoError(t, cfg.resolve())
	require.Equal(t, "10.0.0.2:7482", cfg.HTTP, "Haven port + 80")
	require.Equal(t, "10.0.0.2:7502", cfg.Peer, "Haven port + 100")
	require.Equal(t, "10.0.0.1:7481", cfg.Peers[0].HTTP)
	require.Equal(t, "10.0.0.2:9000", cfg.Peers[1].HTTP, "configured beats the layout")
}

// A key that names no setting is refused, so a misspelt one is not
// silently left at its default; an empty file is no settings.
func TestConfigFileRefusesUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("id: n1\nmax_item_byte: 1024\n"), 0o600))
	var cfg Config
	_, err := parseArgs([]string{"-config", bad}, &cfg, io.Discard, io.Discard)
	require.ErrorContains(t, err, "max_item_byte")
	empty := filepath.Join(dir, "empty.yaml")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	_, err = parseArgs([]string{"-config", empty}, &cfg, io.Discard, io.Discard)
	require.NoError(t, err)
}

func TestDefaultsArePROTOCOLs(t *testing.T) {
	var cfg Config
	_, err := parseArgs(nil, &cfg, io.Discard, io.Discard)
	require.NoError(t, err)
	require.NoError(t, cfg.resolve())
	require.Equal(t, "n1", cfg.ID)
	require.Equal(t, "./haven-data", cfg.DataDir)
	require.Equal(t, "127.0.0.1:7400", cfg.Haven)
	require.Equal(t, "127.0.0.1:7480", cfg.HTTP)
}

// A message must hold an event of the largest item: a max-message-bytes
// that cannot is refused at start, not found out at the first watch.
func TestMessageMustHoldTheLargestItem(t *testing.T) {
	for _, tt := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-max-message-bytes", "70000"}, true},
		{[]string{"-max-message-bytes", "65536"}, false},
		{[]string{"-max-item-bytes", "1048576"}, false},
		{[]string{"-max-item-bytes", "0"}, false},
	} {
		var cfg Config
		_, err := parseArgs(tt.args, &cfg, io.Discard, io.Discard)
		require.NoError(t, err)
		if err := cfg.resolve(); tt.ok {
			require.NoError(t, err, "%v", tt.args)
		} else {
			require.ErrorContains(t, err, "max-message-bytes >= max-item-bytes", "%v", tt.args)
		}
	}
}

// TestHelpMatchesHostDoc checks that docs/host.md lists the flags exactly
// as havend -help prints them.
func TestHelpMatchesHostDoc(t *testing.T) {
	var help strings.Builder
	var cfg Config
	_, err := parseArgs([]string{"-help"}, &cfg, &help, io.Discard)
	require.ErrorIs(t, err, flag.ErrHelp)
	flags := help.String()[strings.Index(help.String(), "Flags:\n"):]
	raw, err := os.ReadFile("../../docs/host.md")
	require.NoError(t, err)
	doc := string(raw)
	start := strings.Index(doc, "```\nFlags:\n")
	require.GreaterOrEqual(t, start, 0, "docs/host.md has no flag list")
	doc = doc[start+len("```\n"):]
	doc = doc[:strings.Index(doc, "```")]
	require.Equal(t, flags, doc, "docs/host.md's flag list is not havend -help's")
}
