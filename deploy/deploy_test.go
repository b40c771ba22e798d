package deploy

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "deploy: leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// TestManifests decodes the Kubernetes folder strictly into the API types
// and checks it (see checkManifests).
func TestManifests(t *testing.T) {
	m, err := loadManifests(osDirFS(t, "k8s"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.objects) == 0 {
		t.Fatal("no objects")
	}
	if err := checkManifests(m); err != nil {
		t.Fatal(err)
	}
}

// osDirFS reads a folder into memory.
func osDirFS(t *testing.T, dir string) fstest.MapFS {
	t.Helper()
	files, err := readManifestsDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for name, b := range files {
		fsys[name] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	return fsys
}

// TestBrokenManifests feeds broken copies of the folder to the checks:
// each must be refused, for the reason it was broken.
func TestBrokenManifests(t *testing.T) {
	for _, tc := range []struct {
		name, file, old, new string
		want                 string // in the error
	}{
		{"unknown field", "driver-deployment.yaml", "  replicas: 1\n", "  replica: 1\n", `unknown field "replica"`},
		{"field in the wrong place", "worker-deployment.yaml", "      automountServiceAccountToken: false\n", "      automountServiceAccountToken: false\n      replicas: 2\n", `unknown field "replicas"`},
		{"old apiVersion", "worker-pdb.yaml", "apiVersion: policy/v1\n", "apiVersion: policy/v1beta1\n", `apiVersion "policy/v1beta1" kind "PodDisruptionBudget"`},
		{"no name", "configmap.yaml", "  name: sluice-config\n", "", "ConfigMap without metadata.name"},
		{"selector mismatch", "worker-deployment.yaml", "        app.kubernetes.io/component: worker\n", "        app.kubernetes.io/component: workers\n", "does not match its pod template's labels"},
		{"service selects nothing", "driver-service.yaml", "  selector:\n    app.kubernetes.io/name: sluice\n    app.kubernetes.io/component: driver\n", "  selector:\n    app.kubernetes.io/name: sluice\n    app.kubernetes.io/component: drivers\n", "Service sluice-driver: its selector matches the pods of 0 Deployments"},
		{"wrong driver host", "worker-deployment.yaml", "--driver=sluice-driver:7077", "--driver=sluice-drive:7077", `no Service "sluice-drive"`},
		{"wrong driver port", "worker-deployment.yaml", "--driver=sluice-driver:7077", "--driver=sluice-driver:4040", "does not lead to the driver's --listen port 7077"},
		{"driver port not a service port", "worker-deployment.yaml", "--driver=sluice-driver:7077", "--driver=sluice-driver:7078", "has no port 7078"},
		{"driver listens on loopback", "driver-deployment.yaml", "--listen=0.0.0.0:7077", "--listen=127.0.0.1:7077", "listens on loopback only"},
		{"service target port", "driver-service.yaml", "      targetPort: driver\n", "      targetPort: drivers\n", "targetPort drivers is not a port"},
		{"probe on another port", "driver-deployment.yaml", "            path: /status\n              port: ui\n            periodSeconds: 10\n            failureThreshold: 60", "            path: /status\n              port: 4041\n            periodSeconds: 10\n            failureThreshold: 60", "startup probe on port 4041"},
		{"missing secret", "worker-deployment.yaml", "                  name: sluice-s3-credentials\n                  key: AWS_ACCESS_KEY_ID", "                  name: sluice-s3\n                  key: AWS_ACCESS_KEY_ID", `no Secret "sluice-s3"`},
		{"missing configmap key", "driver-deployment.yaml", "key: SLUICE_CHECKPOINT", "key: CHECKPOINT", `ConfigMap "sluice-config" has no key "CHECKPOINT"`},
		{"unlisted file", "kustomization.yaml", "  - worker-pdb.yaml\n", "", "worker-pdb.yaml is not listed"},
		{"listed missing file", "kustomization.yaml", "  - worker-pdb.yaml\n", "  - worker-pdb.yaml\n  - network-policy.yaml\n", "network-policy.yaml: no such file"},
		{"unknown job flag", "driver-deployment.yaml", "--checkpoint=$(SLUICE_CHECKPOINT)", "--checkpoints=$(SLUICE_CHECKPOINT)", "flag provided but not defined: -checkpoints"},
		{"bad job flag value", "driver-deployment.yaml", "--checkpoint=$(SLUICE_CHECKPOINT)\n", "--checkpoint=$(SLUICE_CHECKPOINT)\n            - --max-rate=fast\n", `invalid value "fast" for flag -max-rate`},
		{"old flag name", "driver-deployment.yaml", "--ui=0.0.0.0:4040", "--http=0.0.0.0:4040", "--http is the old name of --ui"},
		{"undefined variable", "driver-deployment.yaml", "--checkpoint=$(SLUICE_CHECKPOINT)", "--checkpoint=$(CHECKPOINT)", "undefined variable CHECKPOINT"},
		{"unknown role flag", "driver-deployment.yaml", "--workers=2", "--worker=2", "sluice driver has no flag --worker"},
		{"unknown worker flag", "worker-deployment.yaml", "--driver=sluice-driver:7077", "--driver-addr=sluice-driver:7077", "flag provided but not defined: -driver-addr"},
		{"worker without secret mount", "worker-deployment.yaml", "              mountPath: /etc/sluice/secret\n", "              mountPath: /etc/sluice/secrets\n", "/etc/sluice/secret/cluster-secret is in no volume mounted in both"},
		{"worker without S3 credentials", "worker-deployment.yaml", "            - name: AWS_SECRET_ACCESS_KEY\n", "            - name: AWS_SECRET_KEY\n", "AWS_SECRET_ACCESS_KEY must be set for the driver and the workers"},
		{"two drivers", "driver-deployment.yaml", "  replicas: 1\n", "  replicas: 2\n", "a driver needs replicas 1"},
		{"fewer workers than awaited", "worker-deployment.yaml", "  replicas: 2\n", "  replicas: 1\n", "waits for 2 workers"},
		{"driver not routable before ready", "driver-service.yaml", "  publishNotReadyAddresses: true\n", "", "set publishNotReadyAddresses"},
		{"writable root", "driver-deployment.yaml", "            readOnlyRootFilesystem: true\n", "            readOnlyRootFilesystem: false\n", "root file system is not read-only"},
		{"image not kustomized", "worker-deployment.yaml", "          image: sluice\n", "          image: sluice-worker\n", `image "sluice-worker" is not under the kustomization's images`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := osDirFS(t, "k8s")
			f := fsys[tc.file]
			if f == nil {
				t.Fatalf("no file %s", tc.file)
			}
			if n := strings.Count(string(f.Data), tc.old); n != 1 {
				t.Fatalf("%s holds %q %d times, want once: fix the test case", tc.file, tc.old, n)
			}
			f.Data = []byte(strings.Replace(string(f.Data), tc.old, tc.new, 1))
			m, err := loadManifests(fsys)
			if err == nil {
				err = checkManifests(m)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant an error with %q", err, tc.want)
			}
		})
	}
}
