package scheduler

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The scenario tests are scripts in testdata/*.txt, in the manner of etcd
// raft's data-driven tests. A script is a sequence of blocks:
//
//	<command>
//	  <argument lines, indented (submit only)>
//	----
//	<every action Ready returned after the command, one per line>
//
// Blocks are separated by blank lines; lines starting with # are comments.
// An output of "(none)" means no action; "error: ..." is a Step error.
// Commands:
//
//	new [epoch=N] [max-task-failures=N] [max-stage-attempts=N] [locality-wait=DUR]
//	    [no-speculation] [speculation-quantile=F] [speculation-multiplier=F]
//	    [speculation-min-duration=DUR] [no-exclusion] [exclude-after=N] [exclude-for=DUR]
//	    replace the scheduler by a new one (each file starts with defaults)
//	worker-join W slots=N [reserved]
//	worker-lost W
//	drain W                                (DrainWorker: W gets no new task)
//	submit jJ
//	  sS tasks=N [parents=sA,sB] [result] [pinned] [available=P:W,...] [prefer=P:W|W,...]
//	     [available-len=N] [prefer-len=N]   (force a length, for invalid jobs)
//	replan jJ [retry=jJ/sS/pP/aA@W]        (a new plan of an active job; stages as for submit)
//	finish jJ/sS/pP aA on W [speculative] [epoch=N]
//	                                       (epoch defaults to the config's; speculative
//	                                        names a backup copy: reports carry the Task
//	                                        as launched)
//	fail jJ/sS/pP aA on W [speculative] [epoch=N] [reason="..."]
//	fetch-fail jJ/sS/pP aA on W [speculative] map=sS/pP@W [unreachable] [reason="..."]
//	                                       (unreachable: W could not be reached at all)
//	finish-all                             (finish every running attempt, by stage and partition)
//	tick DUR                               (advance the time by DUR)
//	cancel jJ [reason="..."]
//	status                                 (print Status; a worker's exclusion and
//	                                        the counters only when not zero)
//
// Run with -rewrite to regenerate the expected output; then read the diff:
// the checked-in traces are the specification.
var rewrite = flag.Bool("rewrite", false, "rewrite testdata/*.txt with the actual traces")

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			runScript(t, path)
		})
	}
}

// block is one command of a script and its expected output.
type block struct {
	pre  []string // comment and blank lines before the command
	cmd  []string // the command line, then its argument lines
	want []string
	line int // line number of the command
}

func parseScript(t *testing.T, path string) []block {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var blocks []block
	var b block
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case len(b.cmd) == 0 && (strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#")):
			b.pre = append(b.pre, l)
		case l != "----":
			if len(b.cmd) == 0 {
				b.line = i + 1
			}
			b.cmd = append(b.cmd, l)
		default:
			for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
				i++
				b.want = append(b.want, lines[i])
			}
			blocks = append(blocks, b)
			b = block{}
		}
	}
	if len(b.cmd) > 0 {
		t.Fatalf("%s:%d: command without ----", path, b.line)
	}
	if len(b.pre) > 0 {
		blocks = append(blocks, b) // trailing comments
	}
	return blocks
}

func runScript(t *testing.T, path string) {
	blocks := parseScript(t, path)
	sc := &scenario{s: New(Config{})}
	var out strings.Builder
	for i, b := range blocks {
		for _, l := range b.pre {
			out.WriteString(l + "\n")
		}
		if len(b.cmd) == 0 {
			continue
		}
		got, err := sc.run(b.cmd)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, b.line, err)
		}
		if len(got) == 0 {
			got = []string{"(none)"}
		}
		out.WriteString(strings.Join(b.cmd, "\n") + "\n----\n" + strings.Join(got, "\n") + "\n")
		if *rewrite {
			continue
		}
		if g, w := strings.Join(got, "\n"), strings.Join(b.want, "\n"); g != w {
			t.Fatalf("%s:%d: block %d: %s\n--- got:\n%s\n--- want:\n%s", path, b.line, i, b.cmd[0], g, w)
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// scenario runs script commands against a scheduler.
type scenario struct {
	s   *Scheduler
	cfg Config
}

func (sc *scenario) run(cmd []string) ([]string, error) {
	toks, err := tokenize(cmd[0])
	if err != nil {
		return nil, err
	}
	pos, kv := splitArgs(toks[1:])
	if toks[0] != "submit" && toks[0] != "replan" && len(cmd) > 1 {
		return nil, fmt.Errorf("%s takes no argument lines", toks[0])
	}
	switch toks[0] {
	case "new":
		return nil, sc.newScheduler(pos, kv)
	case "status":
		return formatStatus(sc.s.Status()), nil
	case "finish-all":
		return sc.finishAll(), nil
	}
	ev, err := sc.event(toks[0], pos, kv, cmd[1:])
	if err != nil {
		return nil, err
	}
	return sc.step(ev), nil
}

// step applies ev and returns the trace: the actions, or the error.
func (sc *scenario) step(ev Event) []string {
	if err := sc.s.Step(ev); err != nil {
		return []string{"error: " + err.Error()}
	}
	var out []string
	for _, a := range sc.s.Ready() {
		out = append(out, formatAction(a))
	}
	return out
}

func (sc *scenario) finishAll() []string {
	var out []string
	for _, r := range sc.s.Status().Running {
		out = append(out, sc.step(TaskFinished{Task: r.Task, Worker: r.Worker})...)
	}
	return out
}

func (sc *scenario) newScheduler(pos []string, kv map[string]string) error {
	var cfg Config
	for _, flag := range pos {
		switch flag {
		case "no-speculation":
			cfg.NoSpeculation = true
		case "no-exclusion":
			cfg.NoExclusion = true
		default:
			return fmt.Errorf("unknown option %s", flag)
		}
	}
	for k, v := range kv {
		var err error
		switch k {
		case "epoch":
			cfg.Epoch, err = strconv.ParseInt(v, 10, 64)
		case "max-task-failures":
			cfg.MaxTaskFailures, err = strconv.Atoi(v)
		case "max-stage-attempts":
			cfg.MaxStageAttempts, err = strconv.Atoi(v)
		case "locality-wait":
			cfg.LocalityWait, err = time.ParseDuration(v)
		case "speculation-quantile":
			cfg.SpeculationQuantile, err = strconv.ParseFloat(v, 64)
		case "speculation-multiplier":
			cfg.SpeculationMultiplier, err = strconv.ParseFloat(v, 64)
		case "speculation-min-duration":
			cfg.SpeculationMinDuration, err = time.ParseDuration(v)
		case "exclude-after":
			cfg.ExcludeAfter, err = strconv.Atoi(v)
		case "exclude-for":
			cfg.ExcludeFor, err = time.ParseDuration(v)
		default:
			err = fmt.Errorf("unknown option %s", k)
		}
		if err != nil {
			return err
		}
	}
	sc.cfg = cfg
	sc.s = New(cfg)
	return nil
}

func (sc *scenario) event(name string, pos []string, kv map[string]string, lines []string) (Event, error) {
	switch name {
	case "worker-join":
		slots, err := strconv.Atoi(kv["slots"])
		return WorkerJoined{Worker: WorkerID(arg(pos, 0)), Slots: slots, Reserved: arg(pos, 1) == "reserved"}, err
	case "worker-lost":
		return WorkerLost{Worker: WorkerID(arg(pos, 0))}, nil
	case "drain":
		return DrainWorker{Worker: WorkerID(arg(pos, 0))}, nil
	case "tick":
		d, err := time.ParseDuration(arg(pos, 0))
		return Tick{Now: sc.s.Status().Now + d}, err
	case "cancel":
		id, err := parseID(arg(pos, 0), "j")
		return CancelJob{Job: JobID(id), Reason: kv["reason"]}, err
	case "submit":
		return sc.submitEvent(pos, lines)
	case "replan":
		return sc.replanEvent(pos, kv, lines)
	case "finish", "fail", "fetch-fail":
		return sc.taskEvent(name, pos, kv)
	}
	return nil, fmt.Errorf("unknown command %q", name)
}

// taskEvent parses "jJ/sS/pP aA on W" and the options of a task report.
func (sc *scenario) taskEvent(name string, pos []string, kv map[string]string) (Event, error) {
	var unreachable, speculative bool
	for len(pos) > 4 {
		switch pos[len(pos)-1] {
		case "unreachable":
			unreachable = name == "fetch-fail"
		case "speculative":
			speculative = true
		default:
			return nil, fmt.Errorf("unknown option %q", pos[len(pos)-1])
		}
		pos = pos[:len(pos)-1]
	}
	if len(pos) != 4 || pos[2] != "on" {
		return nil, fmt.Errorf("want %s jJ/sS/pP aA on W", name)
	}
	t, err := parseTaskRef(pos[0])
	if err != nil {
		return nil, err
	}
	if t.Attempt, err = parseID(pos[1], "a"); err != nil {
		return nil, err
	}
	t.Epoch = sc.cfg.Epoch
	t.Speculative = speculative
	if e, ok := kv["epoch"]; ok {
		if t.Epoch, err = strconv.ParseInt(e, 10, 64); err != nil {
			return nil, err
		}
	}
	w := WorkerID(pos[3])
	switch name {
	case "finish":
		return TaskFinished{Task: t, Worker: w}, nil
	case "fail":
		return TaskFailed{Task: t, Worker: w, Reason: kv["reason"]}, nil
	}
	f, err := parseMapRef(kv["map"])
	if f != nil {
		f.Unreachable = unreachable
	}
	return TaskFailed{Task: t, Worker: w, Reason: kv["reason"], Fetch: f}, err
}

func (sc *scenario) submitEvent(pos []string, lines []string) (Event, error) {
	id, err := parseID(arg(pos, 0), "j")
	if err != nil {
		return nil, err
	}
	jb := Job{ID: JobID(id)}
	for _, l := range lines {
		st, err := parseStage(l)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", l, err)
		}
		jb.Stages = append(jb.Stages, st)
	}
	return SubmitJob{Job: jb}, nil
}

func (sc *scenario) replanEvent(pos []string, kv map[string]string, lines []string) (Event, error) {
	ev, err := sc.submitEvent(pos, lines)
	if err != nil {
		return nil, err
	}
	rp := ReplanJob{Job: ev.(SubmitJob).Job}
	if r := kv["retry"]; r != "" {
		ref, w, ok := strings.Cut(r, "@")
		i := strings.LastIndex(ref, "/")
		if !ok || i < 0 {
			return nil, fmt.Errorf("bad retry %q, want jJ/sS/pP/aA@W", r)
		}
		t, err := parseTaskRef(ref[:i])
		if err != nil {
			return nil, err
		}
		if t.Attempt, err = parseID(ref[i+1:], "a"); err != nil {
			return nil, err
		}
		t.Epoch = sc.cfg.Epoch
		rp.Retry = &RunningTask{Task: t, Worker: WorkerID(w)}
	}
	return rp, nil
}

// parseStage parses "sS tasks=N [parents=..] [result] [available=..] [prefer=..]".
func parseStage(line string) (Stage, error) {
	toks, err := tokenize(line)
	if err != nil {
		return Stage{}, err
	}
	pos, kv := splitArgs(toks)
	for k := range kv {
		switch k {
		case "tasks", "parents", "available", "prefer", "available-len", "prefer-len":
		default:
			return Stage{}, fmt.Errorf("unknown stage option %q", k)
		}
	}
	id, err := parseID(arg(pos, 0), "s")
	if err != nil {
		return Stage{}, err
	}
	st := Stage{ID: StageID(id), Result: slices.Contains(pos[1:], "result"), Pinned: slices.Contains(pos[1:], "pinned")}
	if st.NumTasks, err = strconv.Atoi(kv["tasks"]); err != nil {
		return Stage{}, err
	}
	for _, p := range splitList(kv["parents"], ",") {
		pid, err := parseID(p, "s")
		if err != nil {
			return Stage{}, err
		}
		st.Parents = append(st.Parents, StageID(pid))
	}
	if st.Available, err = parsePartMap(kv["available"], kv["available-len"], st.NumTasks, func(v string) WorkerID { return WorkerID(v) }); err != nil {
		return Stage{}, err
	}
	st.Prefer, err = parsePartMap(kv["prefer"], kv["prefer-len"], st.NumTasks, func(v string) []WorkerID {
		var ws []WorkerID
		for _, w := range splitList(v, "|") {
			ws = append(ws, WorkerID(w))
		}
		return ws
	})
	return st, err
}

// parsePartMap parses "P:V,P:V" into a slice of length n (or lenOpt when
// given), nil when s is empty and no length is forced.
func parsePartMap[V any](s, lenOpt string, n int, conv func(string) V) ([]V, error) {
	if s == "" && lenOpt == "" {
		return nil, nil
	}
	if lenOpt != "" {
		var err error
		if n, err = strconv.Atoi(lenOpt); err != nil {
			return nil, err
		}
	}
	out := make([]V, n)
	for _, e := range splitList(s, ",") {
		ps, v, ok := strings.Cut(e, ":")
		p, err := strconv.Atoi(ps)
		if !ok || err != nil || p < 0 || p >= n {
			return nil, fmt.Errorf("bad partition entry %q", e)
		}
		out[p] = conv(v)
	}
	return out, nil
}

func parseTaskRef(s string) (Task, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return Task{}, fmt.Errorf("bad task %q, want jJ/sS/pP", s)
	}
	j, err1 := parseID(parts[0], "j")
	st, err2 := parseID(parts[1], "s")
	p, err3 := parseID(parts[2], "p")
	if err1 != nil || err2 != nil || err3 != nil {
		return Task{}, fmt.Errorf("bad task %q, want jJ/sS/pP", s)
	}
	return Task{Job: JobID(j), Stage: StageID(st), Partition: p}, nil
}

// parseMapRef parses "sS/pP@W".
func parseMapRef(s string) (*FetchFailure, error) {
	ref, w, ok := strings.Cut(s, "@")
	st, ps, ok2 := strings.Cut(ref, "/")
	sid, err1 := parseID(st, "s")
	p, err2 := parseID(ps, "p")
	if !ok || !ok2 || err1 != nil || err2 != nil {
		return nil, fmt.Errorf("bad map output %q, want sS/pP@W", s)
	}
	return &FetchFailure{Stage: StageID(sid), Partition: p, Worker: WorkerID(w)}, nil
}

func parseID(s, prefix string) (int, error) {
	if !strings.HasPrefix(s, prefix) {
		return 0, fmt.Errorf("bad ID %q, want %sN", s, prefix)
	}
	return strconv.Atoi(s[len(prefix):])
}

func arg(pos []string, i int) string {
	if i < len(pos) {
		return pos[i]
	}
	return ""
}

func splitList(s, sep string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}

// tokenize splits a line on spaces, keeping double-quoted strings whole.
func tokenize(line string) ([]string, error) {
	var toks []string
	var cur strings.Builder
	quoted := false
	for _, r := range strings.TrimSpace(line) {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				toks = append(toks, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if cur.Len() > 0 {
		toks = append(toks, cur.String())
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return toks, nil
}

// splitArgs separates positional tokens from key=value ones, unquoting
// quoted values.
func splitArgs(toks []string) (pos []string, kv map[string]string) {
	kv = make(map[string]string)
	for _, t := range toks {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			pos = append(pos, t)
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		kv[k] = v
	}
	return pos, kv
}

func formatTask(t Task) string {
	s := fmt.Sprintf("j%d/s%d/p%d a%d", t.Job, t.Stage, t.Partition, t.Attempt)
	if t.Epoch != 0 {
		s += fmt.Sprintf(" e%d", t.Epoch)
	}
	if t.Speculative {
		s += " speculative"
	}
	return s
}

func formatAction(a Action) string {
	switch a := a.(type) {
	case Launch:
		return fmt.Sprintf("launch %s -> %s", formatTask(a.Task), a.Worker)
	case Cancel:
		return fmt.Sprintf("cancel %s on %s", formatTask(a.Task), a.Worker)
	case JobDone:
		return fmt.Sprintf("job-done j%d", a.Job)
	case JobFailed:
		return fmt.Sprintf("job-failed j%d: %s", a.Job, a.Reason)
	}
	return fmt.Sprintf("unknown action %#v", a)
}

func formatStatus(st Status) []string {
	out := []string{fmt.Sprintf("now %v", st.Now)}
	for _, w := range st.Workers {
		l := fmt.Sprintf("worker %s slots=%d running=%d", w.ID, w.Slots, w.Running)
		if w.Excluded {
			l += fmt.Sprintf(" excluded-until=%v", w.ExcludedUntil)
		}
		if w.Draining {
			l += " draining"
		}
		out = append(out, l)
	}
	for _, j := range st.Jobs {
		var stages []string
		for _, s := range j.Stages {
			stages = append(stages, fmt.Sprintf("s%d done=%d/%d running=%d", s.ID, s.Done, s.NumTasks, s.Running))
		}
		out = append(out, fmt.Sprintf("job j%d: %s", j.ID, strings.Join(stages, ", ")))
	}
	for _, r := range st.Running {
		out = append(out, fmt.Sprintf("running %s on %s", formatTask(r.Task), r.Worker))
	}
	if c := st.Counters; c != (Counters{}) {
		out = append(out, fmt.Sprintf("counters speculative-launched=%d won=%d wasted=%d exclusions=%d",
			c.SpeculativeLaunched, c.SpeculativeWon, c.SpeculativeWasted, c.Exclusions))
	}
	return out
}

// formatEvent prints an event in the script syntax (a Tick as the time it
// moves to), so that a failing random run reads like a scenario.
func formatEvent(ev Event) string {
	switch ev := ev.(type) {
	case Tick:
		return fmt.Sprintf("tick (to %v)", ev.Now)
	case WorkerJoined:
		if ev.Reserved {
			return fmt.Sprintf("worker-join %s reserved slots=%d", ev.Worker, ev.Slots)
		}
		return fmt.Sprintf("worker-join %s slots=%d", ev.Worker, ev.Slots)
	case WorkerLost:
		return fmt.Sprintf("worker-lost %s", ev.Worker)
	case DrainWorker:
		return fmt.Sprintf("drain %s", ev.Worker)
	case CancelJob:
		return fmt.Sprintf("cancel j%d reason=%q", ev.Job, ev.Reason)
	case SubmitJob:
		return formatJob(ev.Job)
	case ReplanJob:
		s := strings.Replace(formatJob(ev.Job), "submit", "replan", 1)
		if r := ev.Retry; r != nil {
			s += fmt.Sprintf(" (retry %s on %s)", formatReport(r.Task), r.Worker)
		}
		return s
	case TaskFinished:
		return fmt.Sprintf("finish %s on %s", formatReport(ev.Task), ev.Worker)
	case TaskFailed:
		if f := ev.Fetch; f != nil {
			unreachable := ""
			if f.Unreachable {
				unreachable = " unreachable"
			}
			return fmt.Sprintf("fetch-fail %s on %s map=s%d/p%d@%s%s reason=%q", formatReport(ev.Task), ev.Worker, f.Stage, f.Partition, f.Worker, unreachable, ev.Reason)
		}
		return fmt.Sprintf("fail %s on %s reason=%q", formatReport(ev.Task), ev.Worker, ev.Reason)
	}
	return fmt.Sprintf("%#v", ev)
}

func formatReport(t Task) string {
	return fmt.Sprintf("j%d/s%d/p%d a%d epoch=%d", t.Job, t.Stage, t.Partition, t.Attempt, t.Epoch)
}

func formatJob(jb Job) string {
	lines := []string{fmt.Sprintf("submit j%d", jb.ID)}
	for _, st := range jb.Stages {
		l := fmt.Sprintf("  s%d tasks=%d", st.ID, st.NumTasks)
		if len(st.Parents) > 0 {
			var ps []string
			for _, p := range st.Parents {
				ps = append(ps, fmt.Sprintf("s%d", p))
			}
			l += " parents=" + strings.Join(ps, ",")
		}
		if st.Result {
			l += " result"
		}
		if st.Pinned {
			l += " pinned"
		}
		var av, pr []string
		for p, w := range st.Available {
			if w != "" {
				av = append(av, fmt.Sprintf("%d:%s", p, w))
			}
		}
		for p, ws := range st.Prefer {
			if len(ws) > 0 {
				var names []string
				for _, w := range ws {
					names = append(names, string(w))
				}
				pr = append(pr, fmt.Sprintf("%d:%s", p, strings.Join(names, "|")))
			}
		}
		if len(av) > 0 {
			l += " available=" + strings.Join(av, ",")
		}
		if len(pr) > 0 {
			l += " prefer=" + strings.Join(pr, ",")
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}
