package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

// stage is one FROM … of a Dockerfile and its instructions.
type stage struct {
	image, name string
	instrs      []instruction
}

var dockerInstructions = []string{"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
	"LABEL", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}

// parseDockerfile splits a Dockerfile into stages of instructions.
func parseDockerfile(r io.Reader) ([]stage, error) {
	var stages []stage
	sc := bufio.NewScanner(r)
	n, start := 0, 0
	var cur strings.Builder
	for sc.Scan() {
		n++
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if s, ok := strings.CutSuffix(l, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if !slices.Contains(dockerInstructions, in.cmd) {
			return nil, fmt.Errorf("line %d: unknown instruction %s", in.line, cmd)
		}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := stage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			} else if len(f) != 1 {
				return nil, fmt.Errorf("line %d: FROM %s: want IMAGE [AS NAME]", in.line, in.args)
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				continue
			}
			return nil, fmt.Errorf("line %d: %s before FROM", in.line, in.cmd)
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	if cur.Len() > 0 {
		return nil, errors.New("the last instruction ends with a line continuation")
	}
	return stages, sc.Err()
}

// shellWords splits a shell command line into words, with '…' and "…"
// quoting (no expansions: the Dockerfile's commands use none).
func shellWords(s string) ([]string, error) { return splitWords(s, false) }

// splitWords splits s into words at white space, with '…' and "…"
// quoting; a $ is part of a word if dollar is set, else an error (as are
// the shell's other operators).
func splitWords(s string, dollar bool) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '\'' || ch == '"':
			j := strings.IndexByte(s[i+1:], ch)
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case (ch == '$' && !dollar) || ch == '`' || ch == '\\' || ch == ';' || ch == '&' || ch == '|':
			return nil, fmt.Errorf("%q: the build command must be one plain command", s)
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// imageBuild is what the Dockerfile builds and how.
type imageBuild struct {
	env    []string // NAME=VALUE before `go build`
	args   []string // after `go build`, -o included
	out    string   // -o's value in the build stage
	binary string   // where the final stage has it
	ports  []string // EXPOSE
}

// checkDockerfile checks the Dockerfile's shape: a Go build stage on the
// official image of go.mod's Go version that builds ./cmd/sluice static,
// and a final distroless (or scratch) stage that runs it as non-root.
func checkDockerfile(stages []stage, goVersion string) (*imageBuild, error) {
	if len(stages) < 2 {
		return nil, fmt.Errorf("%d stages, want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	repo, tag, _ := strings.Cut(build.image, ":")
	if repo != "golang" || (tag != goVersion && !strings.HasPrefix(tag, goVersion+".") && !strings.HasPrefix(tag, goVersion+"-")) {
		return nil, fmt.Errorf("build stage FROM %s: want the official golang:%s image (go.mod's version)", build.image, goVersion)
	}
	if final.image != "gcr.io/distroless/static-debian12:nonroot" && final.image != "scratch" {
		return nil, fmt.Errorf("final stage FROM %s: want gcr.io/distroless/static-debian12:nonroot or scratch", final.image)
	}
	b := &imageBuild{}
	for _, in := range build.instrs {
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		words, err := shellWords(in.args)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", in.line, err)
		}
		i := slices.Index(words, "go")
		if i < 0 || i+1 >= len(words) || words[i+1] != "build" {
			return nil, fmt.Errorf("line %d: want [NAME=VALUE …] go build …", in.line)
		}
		b.env, b.args = words[:i], words[i+2:]
	}
	if b.args == nil {
		return nil, errors.New("the build stage runs no go build")
	}
	if !slices.Contains(b.env, "CGO_ENABLED=0") {
		return nil, fmt.Errorf("go build without CGO_ENABLED=0 (env %q): the binary would need libc", b.env)
	}
	for _, want := range []string{"-trimpath", "-ldflags=-s -w"} {
		if !slices.Contains(b.args, want) {
			return nil, fmt.Errorf("go build %q: no %s", b.args, want)
		}
	}
	if i := slices.Index(b.args, "-o"); i >= 0 && i+1 < len(b.args) {
		b.out = b.args[i+1]
	}
	if b.out == "" || b.args[len(b.args)-1] != "./cmd/sluice" {
		return nil, fmt.Errorf("go build %q: want -o PATH … ./cmd/sluice", b.args)
	}
	if err := b.checkFinal(final, build); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *imageBuild) checkFinal(final, build stage) error {
	var user, entry string
	for _, in := range final.instrs {
		switch in.cmd {
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) == 3 && (f[0] == "--from="+build.name || f[0] == "--from=0") && f[1] == b.out {
				b.binary = f[2]
			}
		case "USER":
			user = in.args
		case "EXPOSE":
			b.ports = append(b.ports, strings.Fields(in.args)...)
		case "ENTRYPOINT":
			var exec []string
			if err := json.Unmarshal([]byte(in.args), &exec); err != nil || len(exec) == 0 {
				return fmt.Errorf("line %d: ENTRYPOINT %s: want the exec form, [\"/path/to/sluice\"] (there is no shell)", in.line, in.args)
			}
			entry = exec[0]
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	switch {
	case b.binary == "":
		return fmt.Errorf("the final stage does not COPY --from=%s %s", build.name, b.out)
	case strings.HasSuffix(b.binary, "/"):
		b.binary += filepath.Base(b.out)
	}
	switch {
	case entry != b.binary:
		return fmt.Errorf("ENTRYPOINT %q is not the binary the final stage copies (%s)", entry, b.binary)
	case uid == "" || uid == "root" || uid == "0" || (final.image == "scratch" && uid == "nonroot"):
		return fmt.Errorf("USER %q: want a non-root user (nonroot on distroless, a numeric one on scratch)", user)
	}
	return nil
}

// goVersion returns go.mod's Go version, major.minor.
func goVersion(t *testing.T) string {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

func loadDockerfile(t *testing.T) *imageBuild {
	t.Helper()
	b, err := readDockerfile(goVersion(t))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readDockerfile(goVersion string) (*imageBuild, error) {
	f, err := os.Open("docker/Dockerfile")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	stages, err := parseDockerfile(f)
	if err != nil {
		return nil, fmt.Errorf("docker/Dockerfile: %w", err)
	}
	b, err := checkDockerfile(stages, goVersion)
	if err != nil {
		return nil, fmt.Errorf("docker/Dockerfile: %w", err)
	}
	return b, nil
}

// TestDockerfile checks the Dockerfile without a Docker engine: its
// stages, the build command, the user, the entrypoint and the ports (those
// the Kubernetes driver container exposes).
func TestDockerfile(t *testing.T) {
	b := loadDockerfile(t)
	m, err := loadManifests(osDirFS(t, "k8s"))
	if err != nil {
		t.Fatal(err)
	}
	c := &checker{m: m}
	_, dct, ok := c.roleDeployment(driverRole)
	if !ok {
		t.Fatal(c.errs)
	}
	for _, p := range dct.Ports {
		if !slices.Contains(b.ports, fmt.Sprint(p.ContainerPort)) {
			t.Errorf("the driver container exposes %d (%s); the image does not EXPOSE it (%v)", p.ContainerPort, p.Name, b.ports)
		}
	}
	if len(b.ports) != len(dct.Ports) {
		t.Errorf("the image exposes %v, the driver container %v", b.ports, portNumbers(dct.Ports))
	}
}

func portNumbers(ps []corev1.ContainerPort) []int32 {
	var out []int32
	for _, p := range ps {
		out = append(out, p.ContainerPort)
	}
	return out
}

// TestBrokenDockerfiles: each broken copy is refused, for its reason.
func TestBrokenDockerfiles(t *testing.T) {
	orig, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"cgo", "CGO_ENABLED=0 go build", "go build", "without CGO_ENABLED=0"},
		{"no trimpath", "-trimpath ", "", "no -trimpath"},
		{"other Go", "FROM golang:1.26 AS build", "FROM golang:1.25 AS build", "want the official golang:1.26"},
		{"root", "USER nonroot:nonroot", "USER root", "want a non-root user"},
		{"no user", "USER nonroot:nonroot\n", "", "want a non-root user"},
		{"entrypoint elsewhere", `ENTRYPOINT ["/usr/local/bin/sluice"]`, `ENTRYPOINT ["/sluice"]`, "is not the binary"},
		{"shell entrypoint", `ENTRYPOINT ["/usr/local/bin/sluice"]`, `ENTRYPOINT /usr/local/bin/sluice`, "want the exec form"},
		{"fat base", "FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:12", "want gcr.io/distroless"},
		{"copies another file", "COPY --from=build /out/sluice", "COPY --from=build /out/other", "does not COPY"},
		{"unknown instruction", "WORKDIR /src", "WORKDIRS /src", "unknown instruction WORKDIRS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Count(string(orig), tc.old) != 1 {
				t.Fatalf("the Dockerfile holds %q %d times, want once: fix the test case", tc.old, strings.Count(string(orig), tc.old))
			}
			stages, err := parseDockerfile(strings.NewReader(strings.Replace(string(orig), tc.old, tc.new, 1)))
			if err == nil {
				_, err = checkDockerfile(stages, "1.26")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// dockerignore is a .dockerignore's patterns, in Docker's semantics: paths
// relative to the build context, * and ? within a path element, ** across
// elements, a pattern that matches a directory excludes what it holds,
// ! re-includes, and the last matching pattern wins.
type dockerignore []struct {
	re     *regexp.Regexp
	negate bool
}

func parseDockerignore(b []byte) dockerignore {
	var d dockerignore
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		neg := strings.HasPrefix(l, "!")
		l = strings.Trim(strings.TrimPrefix(l, "!"), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(l); i++ {
			switch {
			case strings.HasPrefix(l[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(l[i:], "**"):
				re.WriteString(".*")
				i++
			case l[i] == '*':
				re.WriteString("[^/]*")
			case l[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(l[i : i+1]))
			}
		}
		re.WriteString("$")
		d = append(d, struct {
			re     *regexp.Regexp
			negate bool
		}{regexp.MustCompile(re.String()), neg})
	}
	return d
}

// excluded reports whether a file (slash-separated, relative to the
// context) is left out of the build context.
func (d dockerignore) excluded(file string) bool {
	out := false
	for _, p := range d {
		// The file or one of its directories.
		for prefix := file; prefix != "."; prefix = filepath.Dir(prefix) {
			if p.re.MatchString(prefix) {
				out = !p.negate
				break
			}
		}
	}
	return out
}

// TestDockerignoreKeepsTheBuild: no file `go build ./cmd/sluice` reads is
// left out of the image's build context (go list names them).
func TestDockerignoreKeepsTheBuild(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	ig := parseDockerignore(b)
	for _, f := range []string{".git/config", "deploy/k8s/driver-deployment.yaml", "internal/codec/testdata/x", "context_test.go"} {
		if !ig.excluded(f) {
			t.Errorf("%s is sent to the builder; .dockerignore should leave it out", f)
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-json=Dir,GoFiles,EmbedFiles,Module,Standard", "./cmd/sluice")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			Dir                 string
			GoFiles, EmbedFiles []string
			Standard            bool
			Module              *struct{ Main bool }
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Standard || p.Module == nil || !p.Module.Main {
			continue
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			files = append(files, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(files) < 50 {
		t.Fatalf("go list named %d files of the module, expected the engine's", len(files))
	}
	for _, f := range files {
		if ig.excluded(f) {
			t.Errorf(".dockerignore leaves out %s, which go build ./cmd/sluice needs", f)
		}
	}
}

// binary is the sluice binary the tests build once, as the image does.
var binary struct {
	once      sync.Once
	dir, path string
	err       error
}

// sharedBinary builds ./cmd/sluice exactly as the Dockerfile does (its
// environment and flags, -o into a directory TestMain removes) once, and
// returns the binary's path.
func sharedBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		b, err := readDockerfile(goVersion(t))
		if err != nil {
			binary.err = err
			return
		}
		if binary.dir, binary.err = os.MkdirTemp("", "sluice-deploy-"); binary.err != nil {
			return
		}
		bin := filepath.Join(binary.dir, "sluice")
		args := slices.Clone(b.args)
		args[slices.Index(args, "-o")+1] = bin
		cmd := exec.Command("go", append([]string{"build"}, args...)...)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), b.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build %q: %v\n%s", args, err, out)
			return
		}
		binary.path = bin
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// TestStaticBinary builds the image's binary and checks that it needs
// nothing from the image (distroless/static has no libc) and that -s -w
// and -trimpath did their part.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/sluice")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkStatic(sharedBinary(t), root); err != nil {
		t.Fatal(err)
	}
}

// TestCheckStaticRefusesDynamic: the check refuses a dynamically linked
// binary (the system's shell).
func TestCheckStaticRefusesDynamic(t *testing.T) {
	f, err := elf.Open("/bin/sh")
	if err != nil {
		t.Skipf("no ELF /bin/sh: %v", err)
	}
	libs, _ := f.ImportedLibraries()
	f.Close()
	if len(libs) == 0 {
		t.Skip("/bin/sh is static here")
	}
	if err := checkStatic("/bin/sh", "/nowhere"); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Fatalf("checkStatic(/bin/sh) = %v, want it refused as dynamically linked", err)
	}
}

// checkStatic checks an executable: no program interpreter and no shared
// library (it runs on distroless/static or scratch), no symbol table
// (-ldflags=-s), and not the build's directory root (-trimpath).
func checkStatic(bin, root string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	var errs []error
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			errs = append(errs, errors.New("it has a program interpreter (PT_INTERP): it is dynamically linked"))
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		errs = append(errs, fmt.Errorf("it needs shared libraries %v (%v)", libs, err))
	}
	if f.Section(".symtab") != nil {
		errs = append(errs, errors.New("it has a symbol table: -ldflags=-s did not apply"))
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	if bytes.Contains(b, []byte(root+"/")) {
		errs = append(errs, fmt.Errorf("it holds the path %s: -trimpath did not apply", root))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w", bin, errors.Join(errs...))
	}
	return nil
}
