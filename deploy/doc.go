// Package deploy holds Sluice's deployment files and the tests that keep
// them true. It has no code of its own; docs/deploy.md is the operator's
// guide.
//
//	docker/Dockerfile   the image: ./cmd/sluice built static (CGO_ENABLED=0,
//	                    -trimpath, -ldflags=-s -w) on golang:1.26, run as
//	                    nonroot on distroless/static (.dockerignore at the root)
//	k8s/                kustomize: namespace, Secrets (cluster secret, S3
//	                    credentials), ConfigMap (checkpoint location), the
//	                    driver's Deployment and Service, the workers'
//	                    Deployment and PodDisruptionBudget
//	systemd/            sluice-driver.service, sluice-worker.service, the
//	                    example sluice.env, the sluice system user
//
// # Tests
//
// go test ./deploy/ checks, without a cluster or a Docker engine:
//
//   - the manifests, decoded strictly into the Kubernetes API types (an
//     unknown or misplaced field fails), and checked one by one and against
//     each other: the kustomization lists every file and only those,
//     selectors match pod templates, Services and probes name ports the
//     containers expose, referenced Secrets, ConfigMaps and keys exist, the
//     workers' --driver is the driver Service's name and a port that leads
//     to the driver's --listen, files the job's flags name are mounted in
//     both pods, the job's flags parse with (*sluice.Flags).Register and the
//     workers' with sluice.WorkerMain itself (TestManifests);
//   - the systemd units, parsed strictly (known sections and directives,
//     value forms, ExecStart expanded as systemd does) and checked for
//     hardening and wiring (TestSystemdUnits);
//   - the Dockerfile's stages, build command, user, entrypoint and ports,
//     and that .dockerignore keeps every file go build ./cmd/sluice reads
//     (TestDockerfile, TestDockerignoreKeepsTheBuild);
//   - docs/configuration.md against the code: every flag with its default
//     (sluice.Run's and sluice.WorkerMain's usage, walked with VisitAll),
//     every Option and OpOption of package sluice, every environment
//     variable the engine reads (TestConfiguration*);
//   - broken copies of each: every check must refuse them (TestBroken*).
//
// Without -short it also builds the image's binary exactly as the
// Dockerfile does and checks it is static (no program interpreter, no
// shared library), checks the `sluice driver` and `sluice demo` flags
// against the docs with the binary's --help, and runs both deployments
// for real on this machine: the manifests' driver and workers and the
// units' driver and worker, as processes with the files' arguments and
// environment, their probes polled, an in-process S3 server for the
// checkpoint (TestRunKubernetes, TestRunSystemd; run_test.go says what is
// mapped onto loopback). The first build compiles every package of
// cmd/sluice again with -trimpath (minutes on a cold cache); the runs take
// seconds.
//
// # Dependencies
//
// k8s.io/api (with k8s.io/apimachinery) gives the real Deployment, Service,
// ConfigMap, Secret, Namespace and PodDisruptionBudget types: decoding into
// them is what the API server does, so a field they lack is a field the
// server would refuse or drop, and label selectors are matched by
// apimachinery's own code. sigs.k8s.io/yaml is Kubernetes' YAML reader
// (YAML to JSON, then the types' JSON decoding, as kubectl does); its
// UnmarshalStrict refuses unknown and duplicate fields. Together they add
// about 16 s to a cold compile of this package (45 s against 30 s for the
// standard library alone on the 2-core build machine) and nothing to the
// engine or the sluice binary, which do not import them. kustomize's own
// API (sigs.k8s.io/kustomize/api) would render the kustomization too, but
// brings kyaml, OpenAPI schemas and more for a file that uses three fields;
// the test decodes those strictly into a struct of its own instead. The
// S3 server is github.com/johannesboyne/gofakes3, which the checkpoint
// store's tests already use; go.uber.org/goleak checks that the tests
// leave no goroutine behind. Dockerfiles, .dockerignore files and systemd
// units are parsed by small strict parsers in the tests: the libraries for
// them (moby's buildkit parser, go-systemd's unit reader) are large or
// lenient, and the files use a small, fixed subset.
package deploy
