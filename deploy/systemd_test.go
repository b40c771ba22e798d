package deploy

import (
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unitKeys are the directives the units may use, by section: a misspelt
// or misplaced directive (systemd only warns and ignores it, which for a
// hardening directive means it silently does not apply) is refused.
var unitKeys = map[string][]string{
	"Unit": {"Description", "Documentation", "After", "Before", "Wants", "Requires", "BindsTo", "PartOf",
		"Conflicts", "StartLimitIntervalSec", "StartLimitBurst"},
	"Service": {"Type", "User", "Group", "DynamicUser", "EnvironmentFile", "Environment", "ExecStart",
		"ExecStartPre", "ExecStop", "KillSignal", "KillMode", "TimeoutStartSec", "TimeoutStopSec", "Restart",
		"RestartSec", "SuccessExitStatus", "StateDirectory", "StateDirectoryMode", "CacheDirectory",
		"RuntimeDirectory", "LogsDirectory", "ConfigurationDirectory", "LoadCredential", "WorkingDirectory",
		"LimitNOFILE", "LimitNPROC", "UMask", "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp",
		"PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
		"ProtectControlGroups", "ProtectClock", "ProtectHostname", "ProtectProc", "ProcSubset",
		"RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
		"LockPersonality", "MemoryDenyWriteExecute", "SystemCallArchitectures", "SystemCallFilter",
		"SystemCallErrorNumber", "CapabilityBoundingSet", "AmbientCapabilities", "ReadWritePaths",
		"ReadOnlyPaths", "InaccessiblePaths", "MemoryMax", "MemoryHigh", "CPUQuota", "TasksMax"},
	"Install": {"WantedBy", "RequiredBy", "Alias"},
}

// multiKeys may be given more than once (their values add up).
var multiKeys = []string{"After", "Before", "Wants", "Requires", "Documentation", "Environment", "EnvironmentFile",
	"ExecStartPre", "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "SystemCallFilter",
	"RestrictAddressFamilies", "LoadCredential", "WantedBy", "RequiredBy"}

// boolKeys take a boolean.
var boolKeys = []string{"DynamicUser", "NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
	"ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock", "ProtectHostname",
	"RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute"}

// unit is a parsed unit file: section → key → values, in order.
type unit struct {
	name     string
	sections map[string]map[string][]string
}

func (u *unit) get(section, key string) string {
	vs := u.sections[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

var unitKey = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)

// parseUnit parses a unit file strictly: known sections and directives,
// Key=Value lines, values of the right form.
func parseUnit(name string, b []byte) (*unit, error) {
	u := &unit{name: name, sections: make(map[string]map[string][]string)}
	section := ""
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		n := i + 1
		l := strings.TrimSpace(lines[i])
		for strings.HasSuffix(l, `\`) && i+1 < len(lines) { // continuation
			i++
			l = strings.TrimSuffix(l, `\`) + " " + strings.TrimSpace(lines[i])
		}
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
			continue
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = l[1 : len(l)-1]
			if _, ok := unitKeys[section]; !ok {
				return nil, fmt.Errorf("%s:%d: unknown section [%s]", name, n, section)
			}
			if u.sections[section] != nil {
				return nil, fmt.Errorf("%s:%d: section [%s] twice", name, n, section)
			}
			u.sections[section] = make(map[string][]string)
			continue
		}
		key, value, ok := strings.Cut(l, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case !ok || !unitKey.MatchString(key):
			return nil, fmt.Errorf("%s:%d: %q is not a Key=Value line", name, n, l)
		case section == "":
			return nil, fmt.Errorf("%s:%d: %s before any section", name, n, key)
		case !slices.Contains(unitKeys[section], key):
			return nil, fmt.Errorf("%s:%d: unknown directive %s in [%s]", name, n, key, section)
		case len(u.sections[section][key]) > 0 && !slices.Contains(multiKeys, key):
			return nil, fmt.Errorf("%s:%d: %s given twice", name, n, key)
		}
		if err := checkUnitValue(key, value); err != nil {
			return nil, fmt.Errorf("%s:%d: %s=%s: %w", name, n, key, value, err)
		}
		u.sections[section][key] = append(u.sections[section][key], value)
	}
	return u, nil
}

// checkUnitValue checks the form of the values that have one.
func checkUnitValue(key, v string) error {
	oneOf := func(vs ...string) error {
		if !slices.Contains(vs, v) {
			return fmt.Errorf("want one of %v", vs)
		}
		return nil
	}
	switch {
	case slices.Contains(boolKeys, key):
		return oneOf("yes", "no", "true", "false", "on", "off", "1", "0")
	case key == "Type":
		return oneOf("simple", "exec", "forking", "oneshot", "dbus", "notify", "idle")
	case key == "Restart":
		return oneOf("no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always")
	case key == "ProtectSystem":
		return oneOf("yes", "no", "full", "strict")
	case key == "ProtectHome":
		return oneOf("yes", "no", "read-only", "tmpfs")
	case key == "KillSignal":
		return oneOf("SIGTERM", "SIGINT", "SIGKILL", "SIGQUIT", "SIGHUP")
	case key == "TimeoutStopSec" || key == "TimeoutStartSec" || key == "RestartSec":
		if _, err := strconv.Atoi(v); err == nil {
			return nil
		}
		_, err := time.ParseDuration(v)
		return err
	case key == "LimitNOFILE" || key == "LimitNPROC":
		if v == "infinity" {
			return nil
		}
		_, err := strconv.ParseUint(v, 10, 64)
		return err
	case key == "UMask" || key == "StateDirectoryMode":
		if _, err := strconv.ParseUint(v, 8, 32); err != nil || len(v) != 4 {
			return errors.New("want four octal digits")
		}
	case strings.HasPrefix(key, "Exec") || key == "EnvironmentFile" || key == "WorkingDirectory":
		if !strings.HasPrefix(strings.TrimLeft(v, "-@:+!"), "/") {
			return errors.New("want an absolute path")
		}
	}
	return nil
}

// parseEnvFile reads an EnvironmentFile: NAME=VALUE lines, # comments,
// optional quotes around the value.
func parseEnvFile(b []byte) (map[string]string, error) {
	env := make(map[string]string)
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(k) {
			return nil, fmt.Errorf("line %d: %q is not NAME=VALUE", i+1, l)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[k] = v
	}
	return env, nil
}

var systemdVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$\$`)

// execArgs splits an Exec line into arguments as systemd does: words
// separated by white space, "…" and '…' quoting, ${NAME} replaced by the
// variable's value within a word, $NAME alone as a word split at white
// space, specifiers (%%, %n, %S, %C, %t). An undefined variable, which
// systemd would make empty, is an error here.
func execArgs(line, unitName string, env map[string]string) ([]string, error) {
	words, err := splitWords(line, true)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, w := range words {
		w, err := specifiers(w, unitName)
		if err != nil {
			return nil, err
		}
		if m := systemdVar.FindStringSubmatch(w); m != nil && m[0] == w && m[2] != "" {
			v, ok := env[m[2]]
			if !ok {
				return nil, fmt.Errorf("%s: undefined variable %s", line, m[2])
			}
			out = append(out, strings.Fields(v)...)
			continue
		}
		var missing []string
		w = systemdVar.ReplaceAllStringFunc(w, func(s string) string {
			if s == "$$" {
				return "$"
			}
			name := strings.Trim(s, "${}")
			v, ok := env[name]
			if !ok {
				missing = append(missing, name)
			}
			return v
		})
		if len(missing) > 0 {
			return nil, fmt.Errorf("%s: undefined variable %s", line, strings.Join(missing, ", "))
		}
		out = append(out, w)
	}
	return out, nil
}

func specifiers(w, unitName string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] != '%' {
			b.WriteByte(w[i])
			continue
		}
		if i+1 == len(w) {
			return "", fmt.Errorf("%q: a lone %%", w)
		}
		i++
		switch w[i] {
		case '%':
			b.WriteByte('%')
		case 'n':
			b.WriteString(unitName)
		case 'S':
			b.WriteString("/var/lib")
		case 'C':
			b.WriteString("/var/cache")
		case 't':
			b.WriteString("/run")
		default:
			return "", fmt.Errorf("%q: specifier %%%c is not one the test knows", w, w[i])
		}
	}
	return b.String(), nil
}

// units is the systemd folder, parsed.
type units struct {
	driver, worker *unit
	env            map[string]string // the example EnvironmentFile
	envFile        string
}

const (
	driverUnit = "sluice-driver.service"
	workerUnit = "sluice-worker.service"
	envExample = "sluice.env"
)

// loadUnits parses the units and their example environment file.
func loadUnits(files map[string][]byte) (*units, error) {
	u := &units{envFile: envExample}
	var err error
	if u.driver, err = parseUnit(driverUnit, files[driverUnit]); err != nil {
		return nil, err
	}
	if u.worker, err = parseUnit(workerUnit, files[workerUnit]); err != nil {
		return nil, err
	}
	if u.env, err = parseEnvFile(files[envExample]); err != nil {
		return nil, fmt.Errorf("%s: %w", envExample, err)
	}
	return u, nil
}

// command returns a unit's ExecStart, expanded with its environment (the
// example file for its EnvironmentFile, and Environment=).
func (us *units) command(u *unit) ([]string, error) {
	env := make(map[string]string)
	for _, f := range u.sections["Service"]["EnvironmentFile"] {
		if path.Base(strings.TrimPrefix(f, "-")) != us.envFile {
			return nil, fmt.Errorf("%s: EnvironmentFile %s: the folder's example is %s", u.name, f, us.envFile)
		}
		for k, v := range us.env {
			env[k] = v
		}
	}
	for _, e := range u.sections["Service"]["Environment"] {
		words, err := splitWords(e, true)
		if err != nil {
			return nil, fmt.Errorf("%s: Environment=%s: %w", u.name, e, err)
		}
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				return nil, fmt.Errorf("%s: Environment=%s: %q is not NAME=VALUE", u.name, e, w)
			}
			env[k] = v
		}
	}
	exec := u.get("Service", "ExecStart")
	if exec == "" {
		return nil, fmt.Errorf("%s: no ExecStart", u.name)
	}
	args, err := execArgs(exec, u.name, env)
	if err != nil {
		return nil, fmt.Errorf("%s: ExecStart: %w", u.name, err)
	}
	return args, nil
}

// checkUnits checks each unit's hardening and the two against each other,
// with Sluice's own flag parsing.
func checkUnits(us *units) error {
	var errs []error
	failf := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, u := range []*unit{us.driver, us.worker} {
		s := func(k string) string { return u.get("Service", k) }
		if (s("User") == "" || s("User") == "root") && s("DynamicUser") != "yes" {
			failf("%s: runs as root: set User= (not root) or DynamicUser=yes", u.name)
		}
		// A driver that ends (--duration, a graceful stop) stays down; a
		// worker comes back, also after a driver's graceful stop released
		// it (exit 0), to join the next driver.
		restart := map[*unit]string{us.driver: "on-failure", us.worker: "always"}[u]
		for k, want := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict", "Restart": restart, "KillSignal": "SIGTERM"} {
			if s(k) != want {
				failf("%s: %s=%s, want %s", u.name, k, s(k), want)
			}
		}
		for _, k := range []string{"StateDirectory", "LimitNOFILE", "TimeoutStopSec"} {
			if s(k) == "" {
				failf("%s: no %s", u.name, k)
			}
		}
		if u.get("Install", "WantedBy") == "" {
			failf("%s: no WantedBy in [Install]: enable would not start it at boot", u.name)
		}
	}
	dargs, err := us.command(us.driver)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	wargs, err := us.command(us.worker)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if dargs[0] != wargs[0] {
		failf("the driver runs %s, the worker %s: they must run the same binary", dargs[0], wargs[0])
	}
	drv, err := parseDriver(dargs[1:])
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("%s: %w", driverUnit, err))...)
	}
	addr, err := checkWorkerArgs(wargs[1:])
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("%s: %w", workerUnit, err))...)
	}
	if !joins(addr, drv.listen) {
		failf("%s: --driver=%s does not reach the driver's --listen=%s", workerUnit, addr, drv.listen)
	}
	if ui, ok := uiAddr(drv.jobFlags); ok {
		if host, _, err := net.SplitHostPort(ui); err != nil || !isLoopback(host) {
			failf("%s: --ui=%s: the UI has no authentication; serve it on loopback (behind a proxy that has)", driverUnit, ui)
		}
	}
	// Under ProtectSystem=strict only the unit's own directories are
	// writable: a checkpoint directory must be in each unit's.
	if ck, ok := setFlag(drv.jobFlags, "checkpoint"); ok && !strings.Contains(ck, "://") {
		for _, u := range []*unit{us.driver, us.worker} {
			dir := "/var/lib/" + u.get("Service", "StateDirectory")
			if !strings.HasPrefix(path.Clean(ck)+"/", dir+"/") {
				failf("%s: --checkpoint=%s is not under %s, its StateDirectory: ProtectSystem=strict makes it read-only", u.name, ck, dir)
			}
		}
	}
	return errors.Join(errs...)
}

// joins reports whether a worker's --driver address reaches a driver
// listening on listen, on the same host or (listening on every address)
// another one.
func joins(addr, listen string) bool {
	ah, ap, err1 := net.SplitHostPort(addr)
	lh, lp, err2 := net.SplitHostPort(listen)
	if err1 != nil || err2 != nil || ap != lp {
		return false
	}
	return ah == lh || lh == "" || lh == "0.0.0.0" || lh == "::" || (isLoopback(ah) && isLoopback(lh))
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

func readUnits(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := readManifestsDir("systemd")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestSystemdUnits parses the units strictly and checks them.
func TestSystemdUnits(t *testing.T) {
	us, err := loadUnits(readUnits(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkUnits(us); err != nil {
		t.Fatal(err)
	}
}

// TestBrokenSystemdUnits: each broken copy is refused, for its reason.
func TestBrokenSystemdUnits(t *testing.T) {
	for _, tc := range []struct{ name, file, old, new, want string }{
		{"misspelt directive", driverUnit, "NoNewPrivileges=yes", "NoNewPrivilege=yes", "unknown directive NoNewPrivilege in [Service]"},
		{"misplaced directive", workerUnit, "WantedBy=multi-user.target", "WantedBy=multi-user.target\nRestart=always", "unknown directive Restart in [Install]"},
		{"unknown section", driverUnit, "[Install]", "[Installation]", "unknown section [Installation]"},
		{"not key=value", workerUnit, "PrivateTmp=yes", "PrivateTmp yes", `"PrivateTmp yes" is not a Key=Value line`},
		{"bad boolean", driverUnit, "PrivateTmp=yes", "PrivateTmp=sure", "PrivateTmp=sure: want one of"},
		{"twice", driverUnit, "Restart=on-failure", "Restart=on-failure\nRestart=always", "Restart given twice"},
		{"worker not restarted", workerUnit, "Restart=always", "Restart=on-failure", "Restart=on-failure, want always"},
		{"relative binary", workerUnit, "ExecStart=/usr/local/bin/sluice", "ExecStart=sluice", "want an absolute path"},
		{"root", driverUnit, "User=sluice", "User=root", "runs as root"},
		{"not strict", workerUnit, "ProtectSystem=strict", "ProtectSystem=full", "ProtectSystem=full, want strict"},
		{"undefined variable", driverUnit, "--listen=${SLUICE_LISTEN}", "--listen=${SLUICE_LISTN}", "undefined variable SLUICE_LISTN"},
		{"unknown job flag", driverUnit, "--checkpoint=${SLUICE_CHECKPOINT}", "--checkpoint-dir=${SLUICE_CHECKPOINT}", "flag provided but not defined: -checkpoint-dir"},
		{"unknown worker flag", workerUnit, "--driver=${SLUICE_DRIVER_ADDR}", "--master=${SLUICE_DRIVER_ADDR}", "flag provided but not defined: -master"},
		{"worker elsewhere", envExample, "SLUICE_DRIVER_ADDR=127.0.0.1:7077", "SLUICE_DRIVER_ADDR=127.0.0.1:7078", "does not reach the driver's --listen=127.0.0.1:7077"},
		{"open UI", envExample, "SLUICE_UI=127.0.0.1:4040", "SLUICE_UI=0.0.0.0:4040", "the UI has no authentication"},
		{"checkpoint not writable", workerUnit, "StateDirectory=sluice", "StateDirectory=sluice-worker", "is not under /var/lib/sluice-worker"},
		{"other env file", driverUnit, "EnvironmentFile=/etc/sluice/sluice.env", "EnvironmentFile=/etc/sluice/driver.env", "EnvironmentFile /etc/sluice/driver.env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := readUnits(t)
			if n := strings.Count(string(files[tc.file]), tc.old); n != 1 {
				t.Fatalf("%s holds %q %d times, want once: fix the test case", tc.file, tc.old, n)
			}
			files[tc.file] = []byte(strings.Replace(string(files[tc.file]), tc.old, tc.new, 1))
			us, err := loadUnits(files)
			if err == nil {
				err = checkUnits(us)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant an error with %q", err, tc.want)
			}
		})
	}
}
