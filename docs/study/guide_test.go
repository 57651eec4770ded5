// Package study holds the test that keeps docs/study/README.md true: every
// command in it runs, every exercise's bug is caught by its commands, and
// every piece of code and every test it names exists.
package study

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const guideFile = "README.md"

// exercise is a planted bug and the commands that must catch it.
type exercise struct {
	file, old, new string
	commands       []string
}

// guide is what the test reads out of the markdown.
type guide struct {
	exercises []exercise
	// plain are commands outside exercises: they must pass on the tree.
	plain []string
}

var (
	mutantRe = regexp.MustCompile("(?s)<!-- mutant: (\\S+)\nold: ([^\n]*)\nnew: ([^\n]*)\n-->\n```sh\n(.*?)```")
	shRe     = regexp.MustCompile("(?s)```sh\n(.*?)```")
	refRe    = regexp.MustCompile("`([a-z0-9_]+/[a-z0-9_/]+\\.go):([A-Za-z_][A-Za-z0-9_]*)`")
	testRe   = regexp.MustCompile("`(Test[A-Za-z0-9_]+)`")
)

func readGuide(t *testing.T) (string, guide) {
	t.Helper()
	data, err := os.ReadFile(guideFile)
	require.NoError(t, err)
	text := string(data)
	var g guide
	unescape := strings.NewReplacer(`\n`, "\n", `\t`, "\t").Replace
	for _, m := range mutantRe.FindAllStringSubmatch(text, -1) {
		g.exercises = append(g.exercises, exercise{file: m[1], old: unescape(m[2]), new: unescape(m[3]), commands: lines(m[4])})
	}
	for _, m := range shRe.FindAllStringSubmatchIndex(text, -1) {
		// A block right after a mutant comment belongs to its exercise.
		if strings.HasSuffix(strings.TrimRight(text[:m[0]], "\n"), "-->") {
			continue
		}
		g.plain = append(g.plain, lines(text[m[2]:m[3]])...)
	}
	require.GreaterOrEqual(t, len(g.exercises), 9, "the guide has one exercise per step")
	return text, g
}

func lines(block string) []string {
	var out []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func moduleRoot(t *testing.T) string {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	return root
}

// Every `file.go:Name` the guide tells the reader to read is declared in
// that file, and every test it names exists.
func TestGuideNamesRealCode(t *testing.T) {
	text, _ := readGuide(t)
	root := moduleRoot(t)
	refs := refRe.FindAllStringSubmatch(text, -1)
	require.NotEmpty(t, refs)
	decls := map[string]map[string]bool{}
	for _, r := range refs {
		file, name := r[1], r[2]
		if decls[file] == nil {
			decls[file] = declaredIn(t, filepath.Join(root, file))
		}
		require.Truef(t, decls[file][name], "the guide says to read %s:%s, which %s does not declare", file, name, file)
	}
	tests := testsIn(t, root)
	for _, m := range testRe.FindAllStringSubmatch(text, -1) {
		require.Truef(t, tests[m[1]], "the guide names %s, which no test file declares", m[1])
	}
}

// declaredIn lists the functions, methods and types a Go file declares.
func declaredIn(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	require.NoErrorf(t, err, "the guide names %s", path)
	names := map[string]bool{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			names[d.Name.Name] = true
		case *ast.GenDecl:
			for _, s := range d.Specs {
				if ts, ok := s.(*ast.TypeSpec); ok {
					names[ts.Name.Name] = true
				}
			}
		}
	}
	return names
}

var testFuncRe = regexp.MustCompile(`(?m)^func (Test[A-Za-z0-9_]+)\(`)

func testsIn(t *testing.T, root string) map[string]bool {
	t.Helper()
	tests := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, "_test.go") {
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range testFuncRe.FindAllStringSubmatch(string(src), -1) {
				tests[m[1]] = true
			}
		}
		return nil
	})
	require.NoError(t, err)
	return tests
}

// The commands outside exercises pass on the tree, and so do the tests an
// exercise runs (without its bug). The simulator commands of exercises are
// not run on the tree here: TestMutantsAreCaught's control runs the same
// havensim flags on the unmutated code.
func TestGuideCommandsPassOnTheTree(t *testing.T) {
	_, g := readGuide(t)
	root := moduleRoot(t)
	cmds := g.plain
	for _, e := range g.exercises {
		for _, c := range e.commands {
			if strings.HasPrefix(c, "go test ") {
				cmds = append(cmds, c)
			}
		}
	}
	require.NotEmpty(t, g.plain)
	for _, c := range cmds {
		out, err := runCommand(root, c)
		require.NoErrorf(t, err, "%s fails on the tree:\n%s", c, out)
	}
}

// Each exercise's commands fail once its bug is planted in a copy of the
// module: the tests and the simulator catch what the guide says they do.
func TestGuideExercisesCatchTheirBugs(t *testing.T) {
	_, g := readGuide(t)
	root := moduleRoot(t)
	for _, e := range g.exercises {
		name := strings.TrimSuffix(filepath.Base(e.file), ".go") + ": " + firstLine(e.old)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			copyTree(t, root, dir)
			path := filepath.Join(dir, filepath.FromSlash(e.file))
			src, err := os.ReadFile(path)
			require.NoError(t, err)
			n := strings.Count(string(src), e.old)
			require.Equalf(t, 1, n, "the exercise's text is in %s %d times (the code changed; update the guide):\n%s", e.file, n, e.old)
			require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(src), e.old, e.new, 1)), 0o644))
			for _, c := range e.commands {
				out, err := runCommand(dir, c)
				require.Errorf(t, err, "with the bug of %s planted, %s still passes:\n%s", e.file, c, out)
				require.NotContainsf(t, out, "build failed", "the planted bug does not compile: %s", out)
				t.Logf("%s: caught (%s)", c, lastLine(out))
			}
		})
	}
}

func runCommand(dir, command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// copyTree copies the module (without .git) so a bug can be planted in it.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	require.NoError(t, err)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
