package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// object is one Kubernetes object of a manifest file, decoded into its
// API type.
type object struct {
	file string
	kind string
	meta metav1.ObjectMeta
	obj  any // *appsv1.Deployment, *corev1.Service, …
}

func (o object) String() string { return fmt.Sprintf("%s %q (%s)", o.kind, o.meta.Name, o.file) }

// kustomization is the part of kustomize's Kustomization the folder uses.
// Decoding is strict: a field the folder starts to use must be added here,
// and checked, first.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// manifests is the Kubernetes folder, decoded.
type manifests struct {
	kust    kustomization
	files   []string // the manifest files, kustomization.yaml aside
	objects []object
}

// apiTypes are the kinds the folder may hold, by apiVersion/kind: an
// object of another kind, or of a kind under another version, is refused.
var apiTypes = map[string]func() (any, *metav1.ObjectMeta){
	"v1/Namespace": func() (any, *metav1.ObjectMeta) { o := new(corev1.Namespace); return o, &o.ObjectMeta },
	"v1/Secret":    func() (any, *metav1.ObjectMeta) { o := new(corev1.Secret); return o, &o.ObjectMeta },
	"v1/ConfigMap": func() (any, *metav1.ObjectMeta) { o := new(corev1.ConfigMap); return o, &o.ObjectMeta },
	"v1/Service":   func() (any, *metav1.ObjectMeta) { o := new(corev1.Service); return o, &o.ObjectMeta },
	"apps/v1/Deployment": func() (any, *metav1.ObjectMeta) {
		o := new(appsv1.Deployment)
		return o, &o.ObjectMeta
	},
	"policy/v1/PodDisruptionBudget": func() (any, *metav1.ObjectMeta) {
		o := new(policyv1.PodDisruptionBudget)
		return o, &o.ObjectMeta
	},
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// loadManifests decodes every YAML file of fsys strictly into the
// Kubernetes API types: an unknown or misplaced field is an error.
func loadManifests(fsys fs.FS) (*manifests, error) {
	m := &manifests{}
	b, err := fs.ReadFile(fsys, "kustomization.yaml")
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(b, &m.kust); err != nil {
		return nil, fmt.Errorf("kustomization.yaml: %w", err)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "kustomization.yaml" {
			continue
		}
		if ext := path.Ext(name); ext != ".yaml" && ext != ".yml" {
			errs = append(errs, fmt.Errorf("%s: not a manifest (.yaml)", name))
			continue
		}
		m.files = append(m.files, name)
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		for i, doc := range docSeparator.Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			o, err := decodeObject(name, []byte(doc))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s, document %d: %w", name, i+1, err))
				continue
			}
			m.objects = append(m.objects, o)
		}
	}
	return m, errors.Join(errs...)
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func decodeObject(file string, doc []byte) (object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return object{}, err
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return object{}, errors.New("no apiVersion or kind")
	}
	mk, ok := apiTypes[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return object{}, fmt.Errorf("apiVersion %q kind %q: not a type this folder uses (want one of %v)", tm.APIVersion, tm.Kind, typeNames())
	}
	obj, meta := mk()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return object{}, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if meta.Name == "" {
		return object{}, fmt.Errorf("%s without metadata.name", tm.Kind)
	}
	return object{file: file, kind: tm.Kind, meta: *meta, obj: obj}, nil
}

func typeNames() []string {
	var out []string
	for k := range apiTypes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The objects of a kind.
func objectsOf[T any](m *manifests) []T {
	var out []T
	for _, o := range m.objects {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func (m *manifests) secret(name string) *corev1.Secret {
	for _, s := range objectsOf[*corev1.Secret](m) {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (m *manifests) configMap(name string) *corev1.ConfigMap {
	for _, c := range objectsOf[*corev1.ConfigMap](m) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// secretKey returns a Secret's value for key (data or stringData).
func secretKey(s *corev1.Secret, key string) (string, bool) {
	if v, ok := s.StringData[key]; ok {
		return v, true
	}
	v, ok := s.Data[key]
	return string(v), ok
}

// checker collects the problems of a folder.
type checker struct {
	m    *manifests
	errs []error
}

func (c *checker) failf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// checkManifests checks the folder's objects one by one and against each
// other; it returns every problem found.
func checkManifests(m *manifests) error {
	c := &checker{m: m}
	c.kustomization()
	c.unique()
	for _, d := range objectsOf[*appsv1.Deployment](m) {
		c.deployment(d)
	}
	for _, s := range objectsOf[*corev1.Service](m) {
		c.service(s)
	}
	for _, p := range objectsOf[*policyv1.PodDisruptionBudget](m) {
		if len(c.selected(p.Spec.Selector)) == 0 {
			c.failf("PodDisruptionBudget %q: its selector matches no Deployment's pods", p.Name)
		}
	}
	c.wiring()
	return errors.Join(c.errs...)
}

// kustomization: it lists every manifest file once and only those; every
// object is in its namespace; every image is one it names.
func (c *checker) kustomization() {
	k := c.m.kust
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		c.failf("kustomization.yaml: apiVersion %q kind %q, want kustomize.config.k8s.io/v1beta1 Kustomization", k.APIVersion, k.Kind)
	}
	seen := make(map[string]bool)
	for _, r := range k.Resources {
		switch {
		case seen[r]:
			c.failf("kustomization.yaml: %s listed twice", r)
		case !slices.Contains(c.m.files, r):
			c.failf("kustomization.yaml: resource %s: no such file in the folder", r)
		}
		seen[r] = true
	}
	for _, f := range c.m.files {
		if !seen[f] {
			c.failf("%s is not listed in kustomization.yaml's resources", f)
		}
	}
	images := make(map[string]bool)
	for _, im := range k.Images {
		images[im.Name] = true
	}
	for _, o := range c.m.objects {
		switch {
		case o.kind == "Namespace":
			if o.meta.Name != k.Namespace {
				c.failf("%s: the kustomization's namespace is %q", o, k.Namespace)
			}
		case o.meta.Namespace != k.Namespace:
			c.failf("%s: namespace %q, the kustomization's is %q", o, o.meta.Namespace, k.Namespace)
		}
	}
	for _, d := range objectsOf[*appsv1.Deployment](c.m) {
		for _, ct := range d.Spec.Template.Spec.Containers {
			if !images[ct.Image] {
				c.failf("Deployment %q container %s: image %q is not under the kustomization's images", d.Name, ct.Name, ct.Image)
			}
		}
	}
}

func (c *checker) unique() {
	seen := make(map[string]bool)
	for _, o := range c.m.objects {
		k := o.kind + "/" + o.meta.Name
		if seen[k] {
			c.failf("%s: defined twice", o)
		}
		seen[k] = true
	}
}

// selected returns the Deployments whose pods sel matches.
func (c *checker) selected(sel *metav1.LabelSelector) []*appsv1.Deployment {
	if sel == nil {
		return nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range objectsOf[*appsv1.Deployment](c.m) {
		if s.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, d)
		}
	}
	return out
}

func (c *checker) deployment(d *appsv1.Deployment) {
	name := "Deployment " + d.Name
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	switch {
	case d.Spec.Selector == nil || err != nil || sel.Empty():
		c.failf("%s: no usable selector (%v)", name, err)
	case !sel.Matches(labels.Set(d.Spec.Template.Labels)):
		c.failf("%s: selector %s does not match its pod template's labels %v", name, sel, d.Spec.Template.Labels)
	}
	pod := d.Spec.Template.Spec
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		c.failf("%s: the pod does not set runAsNonRoot", name)
	}
	volumes := make(map[string]corev1.Volume)
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
		switch {
		case v.Secret != nil && c.m.secret(v.Secret.SecretName) == nil:
			c.failf("%s: volume %s: no Secret %q in the folder", name, v.Name, v.Secret.SecretName)
		case v.ConfigMap != nil && c.m.configMap(v.ConfigMap.Name) == nil:
			c.failf("%s: volume %s: no ConfigMap %q in the folder", name, v.Name, v.ConfigMap.Name)
		}
	}
	if len(pod.Containers) == 0 {
		c.failf("%s: no containers", name)
	}
	for _, ct := range pod.Containers {
		c.container(name+" container "+ct.Name, ct, volumes)
	}
}

func (c *checker) container(name string, ct corev1.Container, volumes map[string]corev1.Volume) {
	sc := ct.SecurityContext
	switch {
	case sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		c.failf("%s: the root file system is not read-only", name)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		c.failf("%s: allowPrivilegeEscalation is not false", name)
	}
	if ct.Resources.Requests.Memory().IsZero() || ct.Resources.Limits.Memory().IsZero() {
		c.failf("%s: no memory request and limit", name)
	}
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
	}{{"startup", ct.StartupProbe}, {"readiness", ct.ReadinessProbe}, {"liveness", ct.LivenessProbe}} {
		if p.probe == nil {
			continue
		}
		var port intstr.IntOrString
		switch h := p.probe.ProbeHandler; {
		case h.HTTPGet != nil:
			port = h.HTTPGet.Port
		case h.TCPSocket != nil:
			port = h.TCPSocket.Port
		default:
			continue
		}
		if _, ok := containerPort(ct, port); !ok {
			c.failf("%s: %s probe on port %s, which the container does not expose", name, p.kind, port.String())
		}
	}
	for _, vm := range ct.VolumeMounts {
		if _, ok := volumes[vm.Name]; !ok {
			c.failf("%s: mounts volume %s, which the pod does not have", name, vm.Name)
		}
	}
	for _, e := range ct.Env {
		c.envRef(name, e)
	}
}

// envRef checks that an environment variable's source is in the folder.
func (c *checker) envRef(name string, e corev1.EnvVar) {
	if e.ValueFrom == nil {
		return
	}
	switch r := e.ValueFrom; {
	case r.SecretKeyRef != nil:
		s := c.m.secret(r.SecretKeyRef.Name)
		if s == nil {
			c.failf("%s: env %s: no Secret %q in the folder", name, e.Name, r.SecretKeyRef.Name)
		} else if _, ok := secretKey(s, r.SecretKeyRef.Key); !ok {
			c.failf("%s: env %s: Secret %q has no key %q", name, e.Name, s.Name, r.SecretKeyRef.Key)
		}
	case r.ConfigMapKeyRef != nil:
		cm := c.m.configMap(r.ConfigMapKeyRef.Name)
		if cm == nil {
			c.failf("%s: env %s: no ConfigMap %q in the folder", name, e.Name, r.ConfigMapKeyRef.Name)
		} else if _, ok := cm.Data[r.ConfigMapKeyRef.Key]; !ok {
			c.failf("%s: env %s: ConfigMap %q has no key %q", name, e.Name, cm.Name, r.ConfigMapKeyRef.Key)
		}
	}
}

// containerPort finds the container port p names (by name or number).
func containerPort(ct corev1.Container, p intstr.IntOrString) (corev1.ContainerPort, bool) {
	for _, cp := range ct.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

// service: it selects one Deployment's pods, and each port's target is a
// port their containers expose.
func (c *checker) service(s *corev1.Service) {
	name := "Service " + s.Name
	ds := c.selected(&metav1.LabelSelector{MatchLabels: s.Spec.Selector})
	if len(ds) != 1 {
		c.failf("%s: its selector matches the pods of %d Deployments, want 1", name, len(ds))
		return
	}
	for _, sp := range s.Spec.Ports {
		if _, _, ok := targetContainerPort(ds[0], sp); !ok {
			c.failf("%s: port %s (%d): targetPort %s is not a port of Deployment %s's containers", name, sp.Name, sp.Port, sp.TargetPort.String(), ds[0].Name)
		}
	}
}

// targetContainerPort returns the container and port a Service port sends
// to in d's pods.
func targetContainerPort(d *appsv1.Deployment, sp corev1.ServicePort) (corev1.Container, corev1.ContainerPort, bool) {
	target := sp.TargetPort
	if target.Type == intstr.Int && target.IntVal == 0 {
		target = intstr.FromInt32(sp.Port)
	}
	for _, ct := range d.Spec.Template.Spec.Containers {
		if cp, ok := containerPort(ct, target); ok {
			return ct, cp, true
		}
	}
	return corev1.Container{}, corev1.ContainerPort{}, false
}

// readManifestsDir reads the real folder into memory, for copies to
// break.
func readManifestsDir(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out[e.Name()] = bytes.Clone(b)
	}
	return out, nil
}
