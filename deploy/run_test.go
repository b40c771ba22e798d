package deploy

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/rpc"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The full runs start the deployments' processes for real, on this
// machine: the binary the image has, with the arguments and environment
// of the manifests or the units. What only a cluster has is mapped onto
// loopback, and said so:
//   - every listen address (0.0.0.0:P in a pod, 127.0.0.1:P on a host) gets
//     a free loopback port of its own, and the Service's DNS name the
//     driver's mapped port;
//   - every mounted path (Secret volumes, emptyDirs, the state directory,
//     /etc/sluice) is a temporary directory, holding a Secret's keys;
//   - the cluster secret's placeholder, which the driver must refuse, is
//     replaced by a fresh secret;
//   - the S3 endpoint of the checkpoint URL is an in-process S3 server;
//   - the driver's job gets --duration=3s, so that it ends (gracefully,
//     writing its final checkpoint).
//
// The run passes if the driver and the workers exit 0 after running
// batches, every probe the manifests define answered 200 while they ran,
// and the checkpoint store holds the job's checkpoint.

// runDuration ends the driver's job; runDeadline bounds a whole run (a
// backstop for a hang, not a measurement).
const (
	runDuration = "3s"
	runDeadline = 3 * time.Minute
)

// process is one process of a deployment.
type process struct {
	name   string
	args   []string // args[0] is the binary
	env    []string
	probes []string // URLs to GET while it runs; each must answer 200 once
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	probed map[string]bool
}

// ports hands out free loopback ports, below the kernel's ephemeral
// range: a port the kernel picks for some process's ":0" listener (a
// worker's peer server) cannot then take the port a test chose and
// released (it did once: the UI found its port taken).
type ports struct {
	t    *testing.T
	used map[int]bool
}

// portsFrom and portsTo bound the ports handed out: under Linux's default
// ephemeral range (32768–60999).
const portsFrom, portsTo = 20000, 32000

func (p *ports) free() int {
	for try := 0; try < 1000; try++ {
		port := portsFrom + rand.IntN(portsTo-portsFrom)
		if p.used[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		p.used[port] = true
		return port
	}
	p.t.Fatal("no free port in 1000 tries")
	return 0
}

// runDeployment starts the driver, then the workers, polls their probes
// until the driver exits, waits for the workers, and checks their exits.
func runDeployment(t *testing.T, driver *process, workers []*process) {
	t.Helper()
	all := append([]*process{driver}, workers...)
	for _, p := range all {
		p.cmd = exec.Command(p.args[0], p.args[1:]...)
		p.cmd.Env = p.env
		p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
		p.probed = make(map[string]bool)
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		t.Cleanup(func() {
			if p.cmd.ProcessState == nil { // still running: the test failed
				p.cmd.Process.Kill()
				p.cmd.Wait()
			}
		})
	}
	done := make(chan error, 1)
	go func() { done <- driver.cmd.Wait() }() // owned here: ends with the driver, which the deadline kills
	deadline := time.NewTimer(runDeadline)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: time.Second}
	var derr error
poll:
	for {
		select {
		case derr = <-done:
			break poll
		case <-deadline.C:
			driver.cmd.Process.Kill()
			<-done
			dump(t, all)
			t.Fatalf("the driver did not finish within %v", runDeadline)
		case <-tick.C:
			for _, p := range all {
				for _, u := range p.probes {
					if !p.probed[u] {
						p.probed[u] = get(client, u)
					}
				}
			}
		}
	}
	for _, w := range workers {
		wait := make(chan error, 1)
		go func() { wait <- w.cmd.Wait() }()
		select {
		case err := <-wait:
			if err != nil {
				dump(t, all)
				t.Errorf("%s: %v", w.name, err)
			}
		case <-time.After(time.Minute):
			w.cmd.Process.Kill()
			<-wait
			dump(t, all)
			t.Errorf("%s did not exit within a minute of the driver", w.name)
		}
	}
	if derr != nil {
		dump(t, all)
		t.Fatalf("%s: %v", driver.name, derr)
	}
	for _, p := range all {
		for _, u := range p.probes {
			if !p.probed[u] {
				dump(t, all)
				t.Errorf("%s: probe %s never answered 200", p.name, u)
			}
		}
	}
	n := strings.Count(driver.stdout.String(), "processed in")
	if n == 0 {
		dump(t, all)
		t.Errorf("%s ran no batch", driver.name)
	}
	t.Logf("%s ran %d batches with %d workers; probes answered: %v", driver.name, n, len(workers), probeList(all))
}

func probeList(ps []*process) []string {
	var out []string
	for _, p := range ps {
		for _, u := range p.probes {
			if p.probed[u] {
				out = append(out, p.name+" "+u)
			}
		}
	}
	return out
}

func get(c *http.Client, u string) bool {
	resp, err := c.Get(u)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func dump(t *testing.T, ps []*process) {
	t.Helper()
	for _, p := range ps {
		t.Logf("%s %q\nstdout:\n%s\nstderr:\n%s", p.name, p.args, tail(p.stdout.String()), tail(p.stderr.String()))
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// fakeS3 starts an in-process S3 server holding bucket.
func fakeS3(t *testing.T, bucket string) string {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return srv.URL
}

// withEndpoint returns an s3:// location with its endpoint replaced.
func withEndpoint(t *testing.T, location, endpoint string) string {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil || u.Scheme != "s3" {
		t.Fatalf("checkpoint location %q: want s3://bucket/prefix?…", location)
	}
	q := u.Query()
	q.Set("endpoint", endpoint)
	u.RawQuery = q.Encode()
	return u.String()
}

// pod is a pod of the run: its mounts (mount path → local directory) and
// its listen ports (container port → local port).
type pod struct {
	name   string
	mounts map[string]string
	ports  map[int32]int
}

// localize maps a value of the pod (an argument, an environment value)
// onto this machine: mounted paths and listen addresses.
func (p *pod) localize(v string) string {
	paths := make([]string, 0, len(p.mounts))
	for m := range p.mounts {
		paths = append(paths, m)
	}
	slices.SortFunc(paths, func(a, b string) int { return len(b) - len(a) }) // longest first
	for _, m := range paths {
		if v == m || strings.HasPrefix(v, m+"/") {
			return p.mounts[m] + strings.TrimPrefix(v, m)
		}
		if i := strings.Index(v, "="+m); i >= 0 && (len(v) == i+1+len(m) || v[i+1+len(m)] == '/') {
			return v[:i+1] + p.mounts[m] + v[i+1+len(m):]
		}
	}
	for cport, local := range p.ports {
		v = strings.ReplaceAll(v, "0.0.0.0:"+strconv.Itoa(int(cport)), "127.0.0.1:"+strconv.Itoa(local))
	}
	return v
}

// newPod makes a pod's mounts, with the Secrets' keys as files.
func newPod(t *testing.T, m *manifests, d *appsv1.Deployment, name string, pp *ports) *pod {
	t.Helper()
	p := &pod{name: name, mounts: make(map[string]string), ports: make(map[int32]int)}
	ct := d.Spec.Template.Spec.Containers[0]
	for _, cp := range ct.Ports {
		p.ports[cp.ContainerPort] = pp.free()
	}
	root := t.TempDir()
	for _, vm := range ct.VolumeMounts {
		dir := filepath.Join(root, filepath.FromSlash(vm.MountPath))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		p.mounts[vm.MountPath] = dir
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name || v.Secret == nil {
				continue
			}
			s := m.secret(v.Secret.SecretName)
			for k, val := range s.StringData {
				if err := os.WriteFile(filepath.Join(dir, k), []byte(val), 0o400); err != nil {
					t.Fatal(err)
				}
			}
			for k, val := range s.Data {
				if err := os.WriteFile(filepath.Join(dir, k), val, 0o400); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return p
}

// podProcess makes the process of a pod's container.
func podProcess(t *testing.T, m *manifests, d *appsv1.Deployment, p *pod, bin string, extra ...string) *process {
	t.Helper()
	ct := d.Spec.Template.Spec.Containers[0]
	args, env, err := containerArgs(m, ct, p.name)
	if err != nil {
		t.Fatal(err)
	}
	proc := &process{name: p.name, args: []string{bin}}
	for _, a := range append(args, extra...) {
		proc.args = append(proc.args, p.localize(a))
	}
	proc.env = []string{"HOME=" + t.TempDir()}
	if tmp, ok := p.mounts["/tmp"]; ok {
		proc.env = append(proc.env, "TMPDIR="+tmp)
	}
	for k, v := range env {
		proc.env = append(proc.env, k+"="+p.localize(v))
	}
	for _, pr := range []*corev1.Probe{ct.StartupProbe, ct.ReadinessProbe, ct.LivenessProbe} {
		if pr == nil || pr.HTTPGet == nil {
			continue
		}
		cp, ok := containerPort(ct, pr.HTTPGet.Port)
		if !ok {
			t.Fatalf("%s: probe port %s", d.Name, pr.HTTPGet.Port.String())
		}
		if u := fmt.Sprintf("http://127.0.0.1:%d%s", p.ports[cp.ContainerPort], pr.HTTPGet.Path); !slices.Contains(proc.probes, u) {
			proc.probes = append(proc.probes, u)
		}
	}
	return proc
}

// TestRunKubernetes runs the Kubernetes deployment's driver and workers
// as processes on this machine (see the top of this file).
func TestRunKubernetes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/sluice and runs a cluster")
	}
	bin := sharedBinary(t)
	m, err := loadManifests(osDirFS(t, "k8s"))
	if err != nil {
		t.Fatal(err)
	}
	c := &checker{m: m}
	dd, _, ok1 := c.roleDeployment(driverRole)
	wd, _, ok2 := c.roleDeployment(workerRole)
	if !ok1 || !ok2 {
		t.Fatal(c.errs)
	}
	// The placeholder secret must be refused; the run gets a real one.
	for _, s := range objectsOf[*corev1.Secret](m) {
		if v, ok := s.StringData["cluster-secret"]; ok {
			if _, err := rpc.ParseSecret(v); err == nil {
				t.Errorf("Secret %s: the placeholder %q is a valid cluster secret: it must not be", s.Name, v)
			}
			s.StringData["cluster-secret"] = rpc.EncodeSecret(rpc.NewSecret())
		}
	}
	var location string
	for _, cm := range objectsOf[*corev1.ConfigMap](m) {
		for k, v := range cm.Data {
			if strings.HasPrefix(v, "s3://") {
				u, _ := url.Parse(v)
				cm.Data[k] = withEndpoint(t, v, fakeS3(t, u.Host))
				location = cm.Data[k]
			}
		}
	}
	if location == "" {
		t.Fatal("no s3:// checkpoint location in the ConfigMaps")
	}
	pp := &ports{t: t, used: make(map[int]bool)}
	dpod := newPod(t, m, dd, dd.Name+"-0", pp)
	driver := podProcess(t, m, dd, dpod, bin, "--duration="+runDuration)
	var workers []*process
	for i := range int(*wd.Spec.Replicas) {
		wpod := newPod(t, m, wd, fmt.Sprintf("%s-%d", wd.Name, i), pp)
		w := podProcess(t, m, wd, wpod, bin)
		for i, a := range w.args {
			w.args[i] = serviceToLocal(a, m, dd, dpod)
		}
		workers = append(workers, w)
	}
	runDeployment(t, driver, workers)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	checkCheckpoint(t, location)
}

// serviceToLocal replaces a Service's address (name:port, as a worker's
// --driver names it) by the local port of the driver pod's container port
// it leads to.
func serviceToLocal(arg string, m *manifests, dd *appsv1.Deployment, dpod *pod) string {
	for _, s := range objectsOf[*corev1.Service](m) {
		for _, sp := range s.Spec.Ports {
			_, cp, ok := targetContainerPort(dd, sp)
			if !ok {
				continue
			}
			for _, host := range []string{s.Name, s.Name + "." + m.kust.Namespace, s.Name + "." + m.kust.Namespace + ".svc"} {
				arg = strings.ReplaceAll(arg, "="+host+":"+strconv.Itoa(int(sp.Port)), "=127.0.0.1:"+strconv.Itoa(dpod.ports[cp.ContainerPort]))
			}
		}
	}
	return arg
}

// checkCheckpoint checks that the job left a checkpoint at location.
func checkCheckpoint(t *testing.T, location string) {
	t.Helper()
	info, err := sluice.ReadCheckpoint(context.Background(), location)
	if err != nil {
		t.Fatalf("reading the checkpoint at %s: %v", location, err)
	}
	if info == nil || !info.Completed.After(info.First) && !info.Completed.Equal(info.First) || len(info.State) == 0 {
		t.Fatalf("the checkpoint at %s: %+v, want the demo's completed batches and state", location, info)
	}
}

// TestRunSystemd runs the systemd units' commands as processes on this
// machine, with the example environment file: /etc/sluice (the secret),
// the state directory and the private /tmp are temporary directories, the
// binary is the image's, and the loopback ports are free ones.
func TestRunSystemd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/sluice and runs a cluster")
	}
	bin := sharedBinary(t)
	us, err := loadUnits(readUnits(t))
	if err != nil {
		t.Fatal(err)
	}
	etc, state := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(etc, "cluster-secret"), []byte(rpc.EncodeSecret(rpc.NewSecret())+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	pp := &ports{t: t, used: make(map[int]bool)}
	local := make(map[string]string) // 127.0.0.1:P → a free port
	for _, v := range us.env {
		if host, _, err := net.SplitHostPort(v); err == nil && isLoopback(host) && local[v] == "" {
			local[v] = "127.0.0.1:" + strconv.Itoa(pp.free())
		}
	}
	for k, v := range us.env {
		if l, ok := local[v]; ok {
			us.env[k] = l
		}
	}
	localize := func(a string) string {
		a = strings.Replace(a, "/usr/local/bin/sluice", bin, 1)
		a = strings.Replace(a, "/etc/sluice/", etc+"/", 1)
		return strings.Replace(a, "/var/lib/sluice", filepath.Join(state, "sluice"), 1)
	}
	var procs []*process
	for _, u := range []*unit{us.driver, us.worker} {
		args, err := us.command(u)
		if err != nil {
			t.Fatal(err)
		}
		p := &process{name: u.name, env: []string{"HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir()}}
		for _, a := range args {
			p.args = append(p.args, localize(a))
		}
		for k, v := range us.env { // systemd passes the file's variables to the process
			p.env = append(p.env, k+"="+localize(v))
		}
		procs = append(procs, p)
	}
	if procs[0].args[0] != bin || procs[1].args[0] != bin {
		t.Fatalf("the units run %s and %s, not the image's /usr/local/bin/sluice", procs[0].args[0], procs[1].args[0])
	}
	procs[0].args = append(procs[0].args, "--duration="+runDuration)
	drv, err := parseDriver(procs[0].args[1:])
	if err != nil {
		t.Fatal(err)
	}
	ui, _ := uiAddr(drv.jobFlags)
	procs[0].probes = []string{"http://" + ui + "/status", "http://" + ui + "/metrics"}
	ck, ok := setFlag(drv.jobFlags, "checkpoint")
	if !ok {
		t.Fatal("the driver's job does not checkpoint")
	}
	runDeployment(t, procs[0], procs[1:])
	checkCheckpoint(t, ck)
}
