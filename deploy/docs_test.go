package deploy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

const configDoc = "../docs/configuration.md"

// docFlags reads the flag table under the heading that starts with
// heading: flag name → its Default cell.
func docFlags(md, heading string) (map[string]string, error) {
	i := strings.Index(md, "\n"+heading)
	if i < 0 {
		return nil, fmt.Errorf("no heading %q", heading)
	}
	rows := make(map[string]string)
	inTable := false
	for _, l := range strings.Split(md[i+1:], "\n")[1:] {
		if strings.HasPrefix(l, "#") {
			break
		}
		if !strings.HasPrefix(l, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(l, "|"), "|")
		name, ok := strings.CutPrefix(strings.TrimSpace(cells[0]), "`--")
		if !ok || len(cells) < 3 {
			continue // the header
		}
		name = strings.TrimSuffix(name, "`")
		if _, dup := rows[name]; dup {
			return nil, fmt.Errorf("--%s documented twice under %q", name, heading)
		}
		rows[name] = strings.TrimSpace(cells[1])
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no flag table under %q", heading)
	}
	return rows, nil
}

// docFlag describes a flag as the code has it.
type docFlag struct {
	name, def string
	alias     string // the flag this one is another name of
}

var codeSpan = regexp.MustCompile("`([^`]*)`")

// checkFlagDocs compares the documented flags with the code's, both ways.
func checkFlagDocs(rows map[string]string, flags []docFlag, heading string) error {
	var errs []error
	for _, f := range flags {
		cell, ok := rows[f.name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: --%s is not documented", heading, f.name))
		case f.alias != "":
			if cell != "alias of `--"+f.alias+"`" {
				errs = append(errs, fmt.Errorf("%s: --%s is another name of --%s: document its default as \"alias of `--%s`\", not %q", heading, f.name, f.alias, f.alias, cell))
			}
		case f.def == "":
			if !strings.HasPrefix(cell, "none") {
				errs = append(errs, fmt.Errorf("%s: --%s has no default; documented as %q (want \"none\")", heading, f.name, cell))
			}
		default:
			m := codeSpan.FindStringSubmatch(cell)
			if m == nil || m[1] != f.def {
				errs = append(errs, fmt.Errorf("%s: --%s defaults to %q; documented as %q", heading, f.name, f.def, cell))
			}
		}
	}
	for name := range rows {
		if !slices.ContainsFunc(flags, func(f docFlag) bool { return f.name == name }) {
			errs = append(errs, fmt.Errorf("%s: --%s is documented but the code has no such flag", heading, name))
		}
	}
	return errors.Join(errs...)
}

// captureStderr runs f with os.Stderr going to a pipe, and returns what
// f wrote there (flag sets print their usage to os.Stderr).
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	out := make(chan string, 1)
	go func() { // owned here: ends when w is closed below
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	f()
	os.Stderr = old
	w.Close()
	s := <-out
	r.Close()
	return s
}

var (
	usageFlag    = regexp.MustCompile(`^  -([a-z0-9-]+)(?: (\w+))?$`)
	usageDefault = regexp.MustCompile(` \(default ("(?:[^"\\]|\\.)*"|[^()]*)\)$`)
)

// helpFlags reads the flags and defaults of a flag set's usage
// (PrintDefaults). known are usage texts known from the code, by flag:
// the default is what PrintDefaults appended to them. Other flags' usage
// must not end with a parenthesis of its own.
func helpFlags(help string, known map[string]string) ([]docFlag, error) {
	lines := strings.Split(help, "\n")
	var out []docFlag
	for i := 0; i < len(lines); i++ {
		m := usageFlag.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		f := docFlag{name: m[1], def: typeZero(m[2])}
		if i+1 < len(lines) {
			usage := strings.TrimSpace(lines[i+1])
			if k, ok := known[f.name]; ok {
				usage = strings.TrimPrefix(usage, k)
			}
			if d := usageDefault.FindStringSubmatch(usage); d != nil {
				f.def = d[1]
				if s, err := strconv.Unquote(d[1]); err == nil {
					f.def = s
				}
			}
			if k, ok := known[f.name]; ok && strings.HasPrefix(k, "old name of --") {
				f.alias = strings.TrimPrefix(k, "old name of --")
			}
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no flags in %q", help)
	}
	return out, nil
}

// typeZero is the default PrintDefaults does not print: the zero value
// of the flag's type.
func typeZero(typ string) string {
	switch typ {
	case "":
		return "false"
	case "string", "value":
		return ""
	case "duration":
		return "0s"
	default:
		return "0"
	}
}

// registered returns the flags (*sluice.Flags).Register adds, walked with
// VisitAll, with their usage, and the aliases among them: flags that set
// the same variable (their Values are the same pointer).
func registered(t *testing.T) (map[string]string, map[string]string) {
	t.Helper()
	var f sluice.Flags
	fs := flag.NewFlagSet("flags", flag.ContinueOnError)
	f.Register(fs)
	usage, alias := make(map[string]string), make(map[string]string)
	byValue := make(map[flag.Value][]string)
	fs.VisitAll(func(fl *flag.Flag) {
		usage[fl.Name] = fl.Usage
		byValue[fl.Value] = append(byValue[fl.Value], fl.Name)
	})
	for _, names := range byValue {
		if len(names) < 2 {
			continue
		}
		// The alias is the one whose usage calls it the old name.
		for _, n := range names {
			if target, ok := strings.CutPrefix(usage[n], "old name of --"); ok && slices.Contains(names, target) {
				alias[n] = target
			}
		}
		if len(alias) == 0 {
			t.Fatalf("flags %v set the same variable, and none says it is the old name of another", names)
		}
	}
	for n, u := range usage {
		if target, ok := strings.CutPrefix(u, "old name of --"); ok && alias[n] != target {
			t.Fatalf("--%s says it is the old name of --%s, but they do not set the same variable", n, target)
		}
	}
	return usage, alias
}

func readConfigDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConfigurationFlags: every flag of sluice.Main programs is in
// docs/configuration.md with the default a program has (sluice.Run's
// usage), and nothing else is.
func TestConfigurationFlags(t *testing.T) {
	if err := checkMainFlagDocs(t, readConfigDoc(t)); err != nil {
		t.Fatal(err)
	}
}

// TestBrokenConfiguration: broken copies of the docs are refused.
func TestBrokenConfiguration(t *testing.T) {
	md := readConfigDoc(t)
	for _, tc := range []struct{ name, old, new, want string }{
		{"missing flag", "| `--max-rate` | `0` |", "| `--max-rates` | `0` |", "--max-rate is not documented"},
		{"stale flag", "| `--max-rate` | `0` |", "| `--max-rate` | `0` | x |\n| `--min-rate` | `0` |", "--min-rate is documented but the code has no such flag"},
		{"wrong default", "| `--ui` | `127.0.0.1:4040` |", "| `--ui` | `127.0.0.1:8080` |", `--ui defaults to "127.0.0.1:4040"; documented as "` + "`127.0.0.1:8080`" + `"`},
		{"default where none", "| `--master` | none |", "| `--master` | `local[*]` |", "--master has no default"},
		{"alias as a flag", "| `--http` | alias of `--ui` | The old name", "| `--http` | `127.0.0.1:4040` | The old name", "--http is another name of --ui"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Count(md, tc.old) != 1 {
				t.Fatalf("the docs hold %q %d times, want once: fix the test case", tc.old, strings.Count(md, tc.old))
			}
			err := checkMainFlagDocs(t, strings.Replace(md, tc.old, tc.new, 1))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// checkMainFlagDocs checks the table of every program's flags in md.
func checkMainFlagDocs(t *testing.T, md string) error {
	t.Helper()
	usage, alias := registered(t)
	help := captureStderr(t, func() {
		err := sluice.Run(context.Background(), []string{"-help"}, func(*sluice.Context) { t.Error("build called") })
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("Run -help: %v, want flag.ErrHelp", err)
		}
	})
	flags, err := helpFlags(help, usage)
	if err != nil {
		t.Fatal(err)
	}
	if len(flags) != len(usage) {
		t.Fatalf("Run's usage lists %d flags, Register adds %d", len(flags), len(usage))
	}
	for i := range flags {
		flags[i].alias = alias[flags[i].name]
	}
	rows, err := docFlags(md, "## Flags of every program")
	if err != nil {
		return err
	}
	return checkFlagDocs(rows, flags, "Flags of every program")
}

// TestConfigurationWorkerFlags: the worker role's flags (sluice.WorkerMain).
func TestConfigurationWorkerFlags(t *testing.T) {
	help := captureStderr(t, func() {
		if err := sluice.WorkerMain(context.Background(), []string{"-help"}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("WorkerMain -help: %v, want flag.ErrHelp", err)
		}
	})
	flags, err := helpFlags(help, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := docFlags(readConfigDoc(t), "## `PROGRAM worker`")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkFlagDocs(rows, flags, "PROGRAM worker"); err != nil {
		t.Fatal(err)
	}
}

// TestConfigurationCommandFlags: the flags of `sluice driver` and `sluice
// demo`, from the built binary's --help (cmd/sluice is package main).
// The demo's table lists its own flags and the defaults it changes.
func TestConfigurationCommandFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/sluice")
	}
	bin := sharedBinary(t)
	usage, alias := registered(t)
	main := make(map[string]string)
	mainFlags, err := helpFlags(captureStderr(t, func() {
		sluice.Run(context.Background(), []string{"-help"}, func(*sluice.Context) {})
	}), usage)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range mainFlags {
		main[f.name] = f.def
	}
	md := readConfigDoc(t)
	for _, tc := range []struct{ args, heading string }{{"driver", "## `sluice driver`"}, {"demo", "## `sluice demo`"}} {
		out, err := exec.Command(bin, tc.args, "--help").CombinedOutput()
		if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("sluice %s --help: %v, want exit status 2\n%s", tc.args, err, out)
		}
		flags, err := helpFlags(string(out), usage)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := docFlags(md, tc.heading)
		if err != nil {
			t.Fatal(err)
		}
		var documented []docFlag
		for _, f := range flags {
			f.alias = alias[f.name]
			_, hasRow := rows[f.name]
			if def, ok := main[f.name]; ok && tc.args == "demo" && def == f.def && !hasRow {
				continue // as for every program
			}
			documented = append(documented, f)
		}
		if err := checkFlagDocs(rows, documented, tc.heading); err != nil {
			t.Error(err)
		}
	}
}

// TestConfigurationOptions: every exported function of package sluice
// that returns an Option or an OpOption is in docs/configuration.md's
// option tables, and every option there is one.
func TestConfigurationOptions(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, "..", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	for _, f := range pkgs["sluice"].Files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !fd.Name.IsExported() || fd.Type.Results == nil || len(fd.Type.Results.List) != 1 {
				continue
			}
			if id, ok := fd.Type.Results.List[0].Type.(*ast.Ident); ok && (id.Name == "Option" || id.Name == "OpOption") {
				code = append(code, fd.Name.Name)
			}
		}
	}
	if len(code) < 30 {
		t.Fatalf("found %d options in package sluice: the parse missed them", len(code))
	}
	md := readConfigDoc(t)
	i := strings.Index(md, "\n## Options of the Go API")
	j := strings.Index(md[i+1:], "\n## ")
	if i < 0 || j < 0 {
		t.Fatal("no section \"## Options of the Go API\"")
	}
	var doc []string
	for _, m := range regexp.MustCompile("(?m)^\\| `sluice\\.([A-Za-z]+)\\(").FindAllStringSubmatch(md[i:i+1+j], -1) {
		doc = append(doc, m[1])
	}
	for _, name := range code {
		if !slices.Contains(doc, name) {
			t.Errorf("sluice.%s is an option the docs do not list", name)
		}
	}
	for _, name := range doc {
		if !slices.Contains(code, name) {
			t.Errorf("the docs list sluice.%s, which is not an option of package sluice", name)
		}
	}
}

// TestConfigurationEnvironment: every environment variable the engine,
// the checkpoint store, the RPC layer and the sluice command read is in
// docs/configuration.md.
func TestConfigurationEnvironment(t *testing.T) {
	md := readConfigDoc(t)
	env := regexp.MustCompile(`"((?:SLUICE|AWS)_[A-Z_]+)"`)
	seen := 0
	for _, dir := range []string{"..", "../internal/cluster", "../internal/checkpoint", "../internal/rpc", "../cmd/sluice"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range env.FindAllStringSubmatch(string(b), -1) {
				seen++
				if !strings.Contains(md, "`"+m[1]+"`") {
					t.Errorf("%s reads %s, which docs/configuration.md does not document", f, m[1])
				}
			}
		}
	}
	if seen < 10 {
		t.Fatalf("found %d environment variables: the scan missed them", seen)
	}
}

// TestDocLinks: every relative link of the operator docs (and of the
// README's section on them) names a file that exists, and a heading of it
// when it has an #anchor.
func TestDocLinks(t *testing.T) {
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil || len(docs) < 6 {
		t.Fatalf("docs: %v %v", docs, err)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, doc := range append(docs, "../README.md") {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if strings.HasSuffix(doc, "README.md") {
			i := strings.Index(text, "\n## Operating Sluice")
			if i < 0 {
				t.Fatal("README.md has no section Operating Sluice")
			}
			text = text[i:]
		}
		text = regexp.MustCompile("(?s)```.*?```").ReplaceAllString(text, "")
		text = regexp.MustCompile("`[^`]*`").ReplaceAllString(text, "")
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := doc
			if file != "" {
				path = filepath.Join(filepath.Dir(doc), file)
			}
			tb, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%s: link %s: %v", doc, target, err)
				continue
			}
			if anchor != "" && !slices.Contains(anchors(string(tb)), anchor) {
				t.Errorf("%s: link %s: %s has no heading #%s (it has %v)", doc, target, file, anchor, anchors(string(tb)))
			}
		}
	}
}

// anchors returns the GitHub anchors of a Markdown file's headings.
func anchors(md string) []string {
	var out []string
	for _, l := range strings.Split(md, "\n") {
		h, ok := strings.CutPrefix(l, "#")
		if !ok {
			continue
		}
		h = strings.TrimSpace(strings.TrimLeft(h, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r > 127:
				b.WriteRune(r)
			}
		}
		out = append(out, b.String())
	}
	return out
}
