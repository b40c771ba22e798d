package deploy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The commands of the `sluice` binary the deployments run: `sluice driver
// [role flags] demo|bench … [job flags]` and `sluice worker [flags]`
// (cmd/sluice/roles.go).
const (
	driverRole = "driver"
	workerRole = "worker"
)

// uiFlags are the job flags that make the driver serve its UI, /metrics
// and /status: --ui, and its old name --http.
var uiFlags = []string{"ui", "http"}

// driverCommand is a `sluice driver` command line, split.
type driverCommand struct {
	workers int    // --workers (default 1)
	listen  string // --listen (default 127.0.0.1:7077)
	job     string // demo or bench
	// jobArgs are the job's arguments after the job's name; jobFlags
	// them parsed by Sluice's own flags.
	jobArgs  []string
	jobFlags *flag.FlagSet
}

// parseDriver splits a driver's arguments (args[0] is "driver") and parses
// the job's flags with Sluice's own flag set. Role flags (cmd/sluice's,
// which a test cannot import) must be written --name=value; the full run
// (TestRunKubernetes) checks them with the real binary.
func parseDriver(args []string) (*driverCommand, error) {
	if len(args) == 0 || args[0] != driverRole {
		return nil, fmt.Errorf("not a %s command: %q", driverRole, args)
	}
	d := &driverCommand{workers: 1, listen: "127.0.0.1:7077"}
	i := 1
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		name, value, ok := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !ok {
			return nil, fmt.Errorf("role flag %q: write it --name=value", args[i])
		}
		switch name {
		case "workers":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("--workers=%s: want a number ≥ 1", value)
			}
			d.workers = n
		case "listen":
			d.listen = value
		default:
			return nil, fmt.Errorf("sluice driver has no flag --%s (it has --workers and --listen)", name)
		}
	}
	if i == len(args) || (args[i] != "demo" && args[i] != "bench") {
		return nil, fmt.Errorf("sluice driver runs demo or bench WORKLOAD, got %q", args[i:])
	}
	d.job = args[i]
	d.jobArgs = args[i+1:]
	if d.job == "bench" {
		return nil, errors.New("the deployments run the demo; bench's flags are checked only by the full run")
	}
	fs, err := parseJobFlags(d.jobArgs)
	if err != nil {
		return nil, fmt.Errorf("job flags %q: %w", d.jobArgs, err)
	}
	d.jobFlags = fs
	return d, nil
}

// parseJobFlags parses a job's flags as every sluice.Main program does
// ((*sluice.Flags).Register). The demo has four flags of its own (--rate,
// --seed, --window, --threshold) that the deployments do not use.
func parseJobFlags(args []string) (*flag.FlagSet, error) {
	var f sluice.Flags
	fs := flag.NewFlagSet("job", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.Register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("arguments after the flags: %q", fs.Args())
	}
	var old []string
	fs.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, "old name of ") {
			old = append(old, fmt.Sprintf("--%s is the %s", f.Name, f.Usage))
		}
	})
	if len(old) > 0 {
		return nil, fmt.Errorf("deprecated flags: %s", strings.Join(old, "; "))
	}
	return fs, nil
}

// setFlag returns the value of a flag set on the command line.
func setFlag(fs *flag.FlagSet, name string) (string, bool) {
	var v string
	var set bool
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			v, set = f.Value.String(), true
		}
	})
	return v, set
}

// uiAddr returns the address the job's UI flag sets.
func uiAddr(fs *flag.FlagSet) (string, bool) {
	for _, name := range uiFlags {
		if v, ok := setFlag(fs, name); ok {
			return v, true
		}
	}
	return "", false
}

// checkWorkerArgs parses a worker's arguments (args[0] is "worker") with
// the real sluice.WorkerMain, under a context that is already done: the
// flags are parsed first, and then it fails at once, before any network
// call, reading the secret file (absent here) or asking the driver. An
// error from the flag package (unknown flag, bad value) does not start
// with "sluice: "; every later error of WorkerMain does.
func checkWorkerArgs(args []string) (driver string, err error) {
	if len(args) == 0 || args[0] != workerRole {
		return "", fmt.Errorf("not a %s command: %q", workerRole, args)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	werr := sluice.WorkerMain(ctx, args[1:])
	if werr == nil || !strings.HasPrefix(werr.Error(), "sluice: ") {
		return "", fmt.Errorf("sluice worker %q: %v", args[1:], werr)
	}
	if strings.Contains(werr.Error(), "needs --driver") {
		return "", fmt.Errorf("sluice worker %q: %v", args[1:], werr)
	}
	for _, a := range args[1:] {
		if v, ok := strings.CutPrefix(strings.TrimLeft(a, "-"), "driver="); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("sluice worker %q: write --driver=HOST:PORT", args[1:])
}

var k8sVar = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// expandK8s expands $(VAR) as the kubelet does in args and env values;
// $$ is a literal $. An undefined variable, which the kubelet would leave
// as is, is an error here.
func expandK8s(s string, env map[string]string) (string, error) {
	var missing []string
	out := k8sVar.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		name := m[2 : len(m)-1]
		v, ok := env[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%q: undefined variable %s", s, strings.Join(missing, ", "))
	}
	return out, nil
}

// containerEnv resolves a container's environment as the kubelet would in
// a pod named pod: literal values, ConfigMap and Secret keys of the
// folder, the pod's name.
func containerEnv(m *manifests, ct corev1.Container, pod string) (map[string]string, error) {
	env := make(map[string]string)
	for _, e := range ct.Env {
		var v string
		switch r := e.ValueFrom; {
		case r == nil:
			var err error
			if v, err = expandK8s(e.Value, env); err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
		case r.ConfigMapKeyRef != nil:
			if cm := m.configMap(r.ConfigMapKeyRef.Name); cm != nil {
				v = cm.Data[r.ConfigMapKeyRef.Key]
			}
		case r.SecretKeyRef != nil:
			if s := m.secret(r.SecretKeyRef.Name); s != nil {
				v, _ = secretKey(s, r.SecretKeyRef.Key)
			}
		case r.FieldRef != nil && r.FieldRef.FieldPath == "metadata.name":
			v = pod
		default:
			return nil, fmt.Errorf("env %s: a source the test does not resolve", e.Name)
		}
		env[e.Name] = v
	}
	return env, nil
}

// containerArgs returns a container's arguments, expanded.
func containerArgs(m *manifests, ct corev1.Container, pod string) ([]string, map[string]string, error) {
	env, err := containerEnv(m, ct, pod)
	if err != nil {
		return nil, nil, err
	}
	args := make([]string, len(ct.Args))
	for i, a := range ct.Args {
		if args[i], err = expandK8s(a, env); err != nil {
			return nil, nil, fmt.Errorf("args: %w", err)
		}
	}
	if len(ct.Command) > 0 {
		return nil, nil, errors.New("command is set: the image's entrypoint (the sluice binary) must run the args")
	}
	return args, env, nil
}

// roleDeployment returns the Deployment whose single container runs role.
func (c *checker) roleDeployment(role string) (*appsv1.Deployment, corev1.Container, bool) {
	var found []*appsv1.Deployment
	for _, d := range objectsOf[*appsv1.Deployment](c.m) {
		cs := d.Spec.Template.Spec.Containers
		if len(cs) == 1 && len(cs[0].Args) > 0 && cs[0].Args[0] == role {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		c.failf("%d Deployments run `sluice %s`, want 1", len(found), role)
		return nil, corev1.Container{}, false
	}
	return found[0], found[0].Spec.Template.Spec.Containers[0], true
}

// wiring checks the driver and the workers against each other: the
// driver's flags, its Service, the address the workers join, the files
// and credentials the job's flags need in both.
func (c *checker) wiring() {
	dd, dct, ok1 := c.roleDeployment(driverRole)
	wd, wct, ok2 := c.roleDeployment(workerRole)
	if !ok1 || !ok2 {
		return
	}
	if dd.Spec.Replicas == nil || *dd.Spec.Replicas != 1 || dd.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		c.failf("Deployment %s: a driver needs replicas 1 and strategy Recreate (two drivers would write the same checkpoints)", dd.Name)
	}
	args, denv, err := containerArgs(c.m, dct, dd.Name)
	if err != nil {
		c.failf("Deployment %s: %v", dd.Name, err)
		return
	}
	drv, err := parseDriver(args)
	if err != nil {
		c.failf("Deployment %s: %v", dd.Name, err)
		return
	}
	listenPort := c.exposedAddr(dd.Name, dct, "--listen", drv.listen)
	if ui, ok := uiAddr(drv.jobFlags); !ok {
		c.failf("Deployment %s: the job serves no UI (--%s): nothing for the probes", dd.Name, uiFlags[0])
	} else if uiPort := c.exposedAddr(dd.Name, dct, "--"+uiFlags[0], ui); uiPort != 0 {
		if p := dct.ReadinessProbe; p == nil || p.HTTPGet == nil || !samePort(dct, p.HTTPGet.Port, uiPort) {
			c.failf("Deployment %s: the readiness probe is not an HTTP GET on the UI port %d", dd.Name, uiPort)
		}
	}
	svc := c.workerJoin(wd, wct, dd, dct, listenPort)
	if svc != nil && dct.ReadinessProbe != nil && !svc.Spec.PublishNotReadyAddresses {
		c.failf("Service %s: the driver is ready only once its workers joined, through this Service: set publishNotReadyAddresses", svc.Name)
	}
	if wd.Spec.Replicas != nil && int(*wd.Spec.Replicas) < drv.workers {
		c.failf("Deployment %s: %d replicas, but the driver waits for %d workers (--workers) before its first batch", wd.Name, *wd.Spec.Replicas, drv.workers)
	}
	c.jobNeeds(drv, dd, dct, denv, wd, wct)
}

// exposedAddr checks that a listen address is reachable from other pods
// (not loopback) on a port the container exposes, and returns the port.
func (c *checker) exposedAddr(dep string, ct corev1.Container, flagName, addr string) int32 {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		c.failf("Deployment %s: %s=%s: %v", dep, flagName, addr, err)
		return 0
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		c.failf("Deployment %s: %s=%s listens on loopback only: other pods and the kubelet's probes cannot reach it", dep, flagName, addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		c.failf("Deployment %s: %s=%s: port %q", dep, flagName, addr, port)
		return 0
	}
	if _, ok := containerPort(ct, intstr.FromInt(n)); !ok {
		c.failf("Deployment %s: %s=%s: port %d is not among the container's ports", dep, flagName, addr, n)
		return 0
	}
	return int32(n)
}

func samePort(ct corev1.Container, p intstr.IntOrString, port int32) bool {
	cp, ok := containerPort(ct, p)
	return ok && cp.ContainerPort == port
}

// workerJoin checks the worker's flags and that its --driver is a
// Service of the folder, selecting the driver's pods, on a port that
// reaches the driver's --listen port. It returns that Service.
func (c *checker) workerJoin(wd *appsv1.Deployment, wct corev1.Container, dd *appsv1.Deployment, dct corev1.Container, listenPort int32) *corev1.Service {
	args, _, err := containerArgs(c.m, wct, wd.Name+"-0")
	if err != nil {
		c.failf("Deployment %s: %v", wd.Name, err)
		return nil
	}
	addr, err := checkWorkerArgs(args)
	if err != nil {
		c.failf("Deployment %s: %v", wd.Name, err)
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		c.failf("Deployment %s: --driver=%s: %v", wd.Name, addr, err)
		return nil
	}
	ns := c.m.kust.Namespace
	var svc *corev1.Service
	for _, s := range objectsOf[*corev1.Service](c.m) {
		for _, dns := range []string{s.Name, s.Name + "." + ns, s.Name + "." + ns + ".svc", s.Name + "." + ns + ".svc.cluster.local"} {
			if host == dns {
				svc = s
			}
		}
	}
	if svc == nil {
		c.failf("Deployment %s: --driver=%s: no Service %q in the folder", wd.Name, addr, host)
		return nil
	}
	if ds := c.selected(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}); len(ds) != 1 || ds[0] != dd {
		c.failf("Deployment %s: --driver=%s: Service %s does not select the driver's pods", wd.Name, addr, svc.Name)
		return svc
	}
	for _, sp := range svc.Spec.Ports {
		if strconv.Itoa(int(sp.Port)) != port {
			continue
		}
		if _, cp, ok := targetContainerPort(dd, sp); ok && cp.ContainerPort == listenPort && listenPort != 0 {
			return svc
		}
		c.failf("Deployment %s: --driver=%s: Service port %d does not lead to the driver's --listen port %d", wd.Name, addr, sp.Port, listenPort)
		return svc
	}
	c.failf("Deployment %s: --driver=%s: Service %s has no port %s", wd.Name, addr, svc.Name, port)
	return svc
}

// jobNeeds checks what the job's flags need in every pod that runs the
// job: the workers run it with the driver's arguments, so a file they name
// must be at the same path in the worker pods, from the same source, and
// an s3:// checkpoint needs the AWS credentials in both.
func (c *checker) jobNeeds(drv *driverCommand, dd *appsv1.Deployment, dct corev1.Container, denv map[string]string,
	wd *appsv1.Deployment, wct corev1.Container) {
	wargs, wenv, err := containerArgs(c.m, wct, wd.Name+"-0")
	if err != nil {
		return // reported by workerJoin
	}
	var files []string
	if f, ok := setFlag(drv.jobFlags, "secret-file"); ok {
		files = append(files, f)
	}
	for _, a := range wargs[1:] {
		if v, ok := strings.CutPrefix(strings.TrimLeft(a, "-"), "secret-file="); ok && !slices.Contains(files, v) {
			files = append(files, v)
		}
	}
	ck, hasCk := setFlag(drv.jobFlags, "checkpoint")
	if hasCk && !strings.Contains(ck, "://") {
		files = append(files, ck) // a directory: shared by the driver and the workers
	}
	for _, f := range files {
		dsrc, dok := mountSource(dd, dct, f)
		wsrc, wok := mountSource(wd, wct, f)
		switch {
		case !dok || !wok:
			c.failf("%s is in no volume mounted in both the driver's and the workers' pods (the workers run the job with the driver's arguments)", f)
		case dsrc != wsrc:
			c.failf("%s comes from %s in the driver's pod and from %s in the workers'", f, dsrc, wsrc)
		}
	}
	if hasCk && strings.HasPrefix(ck, "s3://") {
		for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
			if denv[v] == "" || wenv[v] == "" {
				c.failf("the checkpoint %s is in S3: %s must be set for the driver and the workers (workers write state checkpoints)", ck, v)
			}
		}
	}
}

// mountSource returns the source of the volume that holds file in the
// container (a Secret's, a ConfigMap's, a claim's name).
func mountSource(d *appsv1.Deployment, ct corev1.Container, file string) (string, bool) {
	for _, vm := range ct.VolumeMounts {
		if file != vm.MountPath && !strings.HasPrefix(file, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			switch {
			case v.Name != vm.Name:
			case v.Secret != nil:
				return "Secret " + v.Secret.SecretName, true
			case v.ConfigMap != nil:
				return "ConfigMap " + v.ConfigMap.Name, true
			case v.PersistentVolumeClaim != nil:
				return "PersistentVolumeClaim " + v.PersistentVolumeClaim.ClaimName, true
			default:
				return "volume " + v.Name + " of " + d.Name, true
			}
		}
	}
	return "", false
}
