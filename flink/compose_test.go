package flink

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// repoRoot is where docker-compose.yml lives, relative to this package.
const repoRoot = ".."

// loadProject loads compose files with compose-go as `docker compose` would,
// but with an empty environment and no .env file, so the result does not
// depend on the machine running the test. Every profile is enabled so the
// on-demand submit service is checked too.
func loadProject(t *testing.T, files ...string) *types.Project {
	t.Helper()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(root, f)
	}
	opts, err := cli.NewProjectOptions(paths,
		cli.WithName("trendstream"),
		cli.WithWorkingDirectory(root),
		cli.WithEnv(nil),
		cli.WithProfiles([]string{"*"}),
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose-go rejects %v: %v", files, err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("service %s: %v", name, err)
	}
	return s
}

// oneShot services run to completion; they have no healthcheck and other
// services wait for them with service_completed_successfully.
var oneShot = []string{"kafka-init", "submit"}

func TestComposeServices(t *testing.T) {
	p := loadProject(t, "docker-compose.yml")
	want := []string{
		"api", "beam-job-server", "go-worker-pool", "grafana", "ingest", "jobmanager",
		"kafka", "kafka-exporter", "kafka-init", "postgres", "prometheus", "submit", "taskmanager",
	}
	got := p.ServiceNames()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("services = %v, want %v", got, want)
	}
	if p.Name != "trendstream" {
		t.Errorf("project name = %q, want trendstream", p.Name)
	}
}

// exactVersion is a tag that names one release: 1.19.3-java17, v3.5.0,
// 15.18 or 2.62.0, never latest or a floating minor like 1.19-java17.
var exactVersion = regexp.MustCompile(`^v?\d+\.\d+(\.\d+)?([-_.][A-Za-z0-9_.-]+)?$`)

func TestComposeImagesPinned(t *testing.T) {
	p := loadProject(t, "docker-compose.yml")
	built := map[string]bool{}
	for _, name := range p.ServiceNames() {
		if s := service(t, p, name); s.Build != nil {
			built[s.Image] = true
		}
	}
	for _, name := range p.ServiceNames() {
		s := service(t, p, name)
		t.Run(name, func(t *testing.T) {
			repo, tag, ok := splitImage(s.Image)
			if !ok {
				t.Fatalf("image %q has no tag", s.Image)
			}
			if strings.Contains(s.Image, "@") {
				return // a digest pins exactly
			}
			if s.Build != nil || strings.HasPrefix(repo, "trendstream/") {
				// Our own images: any explicit tag but latest, and built by
				// some service of the stack rather than pulled.
				if tag == "latest" || !strings.HasPrefix(repo, "trendstream/") || !built[s.Image] {
					t.Errorf("image %q: want trendstream/<name>:<tag>, not latest, built by the stack", s.Image)
				}
				return
			}
			if !exactVersion.MatchString(tag) {
				t.Errorf("image %q: tag %q is not an exact version", s.Image, tag)
			}
			// Minor-only tags such as postgres:15.18 are exact for Postgres
			// (major.minor is its release number) but floating for others.
			if strings.Count(strings.SplitN(strings.TrimPrefix(tag, "v"), "-", 2)[0], ".") < 2 && repo != "postgres" {
				t.Errorf("image %q: tag %q names a release line, not a release", s.Image, tag)
			}
		})
	}
}

func splitImage(image string) (repo, tag string, ok bool) {
	image, _, _ = strings.Cut(image, "@")
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return image, "", false
	}
	return image[:i], image[i+1:], true
}

// TestComposeVersionsMatch checks the version couplings the stack depends
// on. The compose stack runs what the local cluster (flink/cluster/cluster.sh)
// tests end to end: the Flink image is cluster.sh's FLINK_VERSION, the job
// server is Beam's job server for that Flink minor at cluster.sh's
// BEAM_JOB_SERVER_VERSION, and the Go SDK worker pool is the Beam release
// the pipeline binary is built with (go.mod), which may be newer than the job
// server.
func TestComposeVersionsMatch(t *testing.T) {
	p := loadProject(t, "docker-compose.yml")
	beam := goModVersion(t, "github.com/apache/beam/sdks/v2")
	clusterFlink := clusterPin(t, "FLINK_VERSION")
	clusterJobServer := clusterPin(t, "BEAM_JOB_SERVER_VERSION")

	jm, tm := service(t, p, "jobmanager"), service(t, p, "taskmanager")
	if jm.Image != tm.Image {
		t.Errorf("jobmanager image %q != taskmanager image %q", jm.Image, tm.Image)
	}
	repo, tag, _ := splitImage(jm.Image)
	flinkVersion, _, _ := strings.Cut(tag, "-")
	if repo != "flink" || flinkVersion != clusterFlink {
		t.Errorf("Flink image %q, want flink:%s-<java> (cluster.sh FLINK_VERSION)", jm.Image, clusterFlink)
	}
	if !strings.HasSuffix(tag, "-java17") {
		t.Errorf("Flink image %q is not the Java 17 variant", jm.Image)
	}
	// The job server is Beam's image with our patch (Dockerfile,
	// flink-job-server; TestComposeJobServerPatched): the versions are
	// its base's, and its own tag names the same Beam release.
	froms := dockerfileFroms(t)
	jsBase := froms["flink-job-server"]
	m := regexp.MustCompile(`^apache/beam_flink(\d+\.\d+)_job_server:(.+)$`).FindStringSubmatch(jsBase)
	if m == nil {
		t.Fatalf("Dockerfile flink-job-server stage FROM %q is not apache/beam_flink<minor>_job_server:<beam>", jsBase)
	}
	flinkMinor, jobServerBeam := m[1], m[2]
	jsImage := service(t, p, "beam-job-server").Image
	if _, tag, _ := splitImage(jsImage); tag != jobServerBeam {
		t.Errorf("beam-job-server image %q, want the tag of its base's Beam release %s", jsImage, jobServerBeam)
	}
	if want := clusterFlink[:strings.LastIndex(clusterFlink, ".")]; flinkMinor != want {
		t.Errorf("job server %q is built for Flink %s, the cluster runs Flink %s", jsImage, flinkMinor, clusterFlink)
	}
	if jobServerBeam != clusterJobServer {
		t.Errorf("job server Beam %s, cluster.sh BEAM_JOB_SERVER_VERSION %s", jobServerBeam, clusterJobServer)
	}
	// The job server may lag the Go SDK (the Job and Fn APIs are versioned),
	// never lead it.
	if compareVersions(jobServerBeam, strings.TrimPrefix(beam, "v")) > 0 {
		t.Errorf("job server Beam %s is newer than go.mod Beam %s", jobServerBeam, beam)
	}

	if want := "apache/beam_go_sdk:" + strings.TrimPrefix(beam, "v"); froms["go-worker-pool"] != want {
		t.Errorf("Dockerfile go-worker-pool stage FROM %q, want %q", froms["go-worker-pool"], want)
	}
	if _, tag, _ := splitImage(service(t, p, "go-worker-pool").Image); "v"+tag != beam {
		t.Errorf("go-worker-pool image tag %q, want go.mod's Beam version %s", tag, beam)
	}
	goVersion := goModDirective(t)
	if b := froms["build"]; !strings.HasPrefix(b, "golang:"+goVersion[:strings.LastIndex(goVersion, ".")]) {
		t.Errorf("Dockerfile build stage FROM %q does not match go.mod go %s", b, goVersion)
	}
	for stage, from := range froms {
		if _, tag, ok := splitImage(from); from != "scratch" && (!ok || !exactVersion.MatchString(tag)) {
			t.Errorf("Dockerfile stage %s FROM %q is not pinned", stage, from)
		}
	}
}

// clusterPin reads a NAME=value pin from flink/cluster/cluster.sh, the
// script that starts the cluster `make test` runs the pipeline on.
func clusterPin(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("cluster", "cluster.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `=(\d+\.\d+\.\d+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("flink/cluster/cluster.sh has no %s=<x.y.z> line", name)
	}
	return string(m[1])
}

// compareVersions compares two x.y.z versions numerically.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.Atoi(as[i])
		y, _ := strconv.Atoi(bs[i])
		if x != y {
			return x - y
		}
	}
	return len(as) - len(bs)
}

func goModVersion(t *testing.T, module string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == module {
			return f[1]
		}
	}
	t.Fatalf("go.mod does not require %s", module)
	return ""
}

func goModDirective(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+\.\d+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

// TestComposeJobServerPatched checks that the stack's job server runs our
// fix of apache/beam#27648 as the local cluster does: built by the same
// script (flink/cluster/jobserver/residuals/build.sh, which TestJobServer*
// and TestPipelinesOnFlink exercise) against the jars of the image it runs
// on, and first on the class path. The image itself is not built here (no
// Docker engine).
func TestComposeJobServerPatched(t *testing.T) {
	p := loadProject(t, "docker-compose.yml")
	js := service(t, p, "beam-job-server")
	if js.Build == nil || js.Build.Target != "flink-job-server" {
		t.Fatalf("beam-job-server is not built from the Dockerfile's flink-job-server stage: %+v", js.Build)
	}
	stages := dockerfileStages(t)
	patch, server := stages["job-server-patch"].Text, stages["flink-job-server"].Text
	wantCopy := "COPY --from=" + stages["flink-job-server"].From + " /opt/apache/beam/jars/ /jobserver/lib/"
	if !strings.Contains(patch, wantCopy) {
		t.Errorf("job-server-patch does not compile against the image's jars: want %q in\n%s", wantCopy, patch)
	}
	if !strings.Contains(patch, "bash /src/residuals/build.sh /jobserver/lib /out/beam-27648-residuals.jar") ||
		!strings.Contains(patch, "COPY flink/cluster/jobserver/residuals/ /src/residuals/") {
		t.Errorf("job-server-patch does not build the patch with jobserver/residuals/build.sh:\n%s", patch)
	}
	if !strings.Contains(server, "COPY --from=job-server-patch /out/beam-27648-residuals.jar /opt/trendstream/beam-27648-residuals.jar") {
		t.Errorf("flink-job-server does not take the built patch:\n%s", server)
	}
	const entry = `ENTRYPOINT ["java", "-cp", "/opt/trendstream/beam-27648-residuals.jar:/opt/apache/beam/jars/*", "org.apache.beam.runners.flink.FlinkJobServerDriver"]`
	if !strings.Contains(server, entry) {
		t.Errorf("flink-job-server does not start the job server with the patch first on the class path: want %s in\n%s", entry, server)
	}
	if _, err := os.Stat(filepath.Join("cluster", "jobserver", "residuals", "build.sh")); err != nil {
		t.Error(err)
	}
}

// dockerfileStage is one stage of the Dockerfile: its base image and its
// text, from its FROM line to the next.
type dockerfileStage struct {
	From, Text string
}

// dockerfileStages reads the Dockerfile's stages by name.
func dockerfileStages(t *testing.T) map[string]dockerfileStage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]dockerfileStage{}
	name := ""
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 4 && strings.EqualFold(f[0], "FROM") && strings.EqualFold(f[2], "AS") {
			name = f[3]
			stages[name] = dockerfileStage{From: f[1]}
		}
		if name != "" {
			st := stages[name]
			st.Text += line + "\n"
			stages[name] = st
		}
	}
	for _, stage := range []string{"build", "runtime", "go-worker-pool", "job-server-patch", "flink-job-server"} {
		if stages[stage].From == "" {
			t.Fatalf("Dockerfile has no stage %q (have %v)", stage, slices.Sorted(maps.Keys(stages)))
		}
	}
	return stages
}

// dockerfileFroms maps each Dockerfile stage name to its base image.
func dockerfileFroms(t *testing.T) map[string]string {
	t.Helper()
	froms := map[string]string{}
	for name, st := range dockerfileStages(t) {
		froms[name] = st.From
	}
	return froms
}

func TestComposeHealthchecksAndLimits(t *testing.T) {
	p := loadProject(t, "docker-compose.yml")
	for _, name := range p.ServiceNames() {
		s := service(t, p, name)
		t.Run(name, func(t *testing.T) {
			hc := s.HealthCheck
			if slices.Contains(oneShot, name) {
				if s.Restart != "no" {
					t.Errorf("one-shot service restart = %q, want \"no\"", s.Restart)
				}
			} else {
				if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
					t.Fatalf("no healthcheck: %+v", hc)
				}
				if hc.Interval == nil || hc.Timeout == nil || hc.Retries == nil {
					t.Errorf("healthcheck lacks interval, timeout or retries: %+v", hc)
				}
			}
			if s.Deploy == nil || s.Deploy.Resources.Limits == nil {
				t.Fatal("no deploy.resources.limits")
			}
			l := s.Deploy.Resources.Limits
			if l.NanoCPUs <= 0 || l.MemoryBytes <= 0 {
				t.Errorf("limits cpus=%v memory=%v, want both set", l.NanoCPUs, l.MemoryBytes)
			}
		})
	}
}

func TestComposeDependsOn(t *testing.T) {
	p := loadProject(t, "docker-compose.yml")
	const (
		healthy   = types.ServiceConditionHealthy
		completed = types.ServiceConditionCompletedSuccessfully
	)
	tests := []struct {
		service, dependency, condition string
	}{
		{"kafka-init", "kafka", healthy},
		{"kafka-exporter", "kafka-init", completed},
		{"ingest", "kafka-init", completed},
		{"api", "kafka-init", completed},
		{"api", "postgres", healthy},
		{"taskmanager", "jobmanager", healthy},
		{"go-worker-pool", "taskmanager", healthy},
		{"beam-job-server", "jobmanager", healthy},
		{"grafana", "prometheus", healthy},
		{"submit", "beam-job-server", healthy},
		{"submit", "go-worker-pool", healthy},
		{"submit", "postgres", healthy},
		{"submit", "kafka-init", completed},
	}
	for _, tt := range tests {
		d, ok := service(t, p, tt.service).DependsOn[tt.dependency]
		if !ok {
			t.Errorf("%s does not depend on %s", tt.service, tt.dependency)
			continue
		}
		if d.Condition != tt.condition {
			t.Errorf("%s depends on %s with %q, want %q", tt.service, tt.dependency, d.Condition, tt.condition)
		}
	}
	// Every dependency has a condition: plain ordering would start a service
	// before its dependency is ready.
	for _, name := range p.ServiceNames() {
		for dep, d := range service(t, p, name).DependsOn {
			if d.Condition == types.ServiceConditionStarted {
				t.Errorf("%s depends on %s with service_started only", name, dep)
			}
		}
	}
}

// TestComposePorts pins the published ports to the ports the project
// documents, all bound to loopback.
func TestComposePorts(t *testing.T) {
	p := loadProject(t, "docker-compose.yml")
	tests := []struct {
		service   string
		published string
		target    uint32
	}{
		{"kafka", "9092", 19092},
		{"postgres", "5432", 5432},
		{"jobmanager", "8081", 8081},
		{"beam-job-server", "8099", 8099},
		{"beam-job-server", "8098", 8098},
		{"ingest", "9101", 9101},
		{"api", "8080", 8080},
		{"prometheus", "9090", 9090},
		{"grafana", "3000", 3000},
	}
	published := map[string]int{}
	for _, name := range p.ServiceNames() {
		for _, port := range service(t, p, name).Ports {
			published[name]++
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q, want 127.0.0.1", name, port.Published, port.HostIP)
			}
		}
	}
	for _, tt := range tests {
		found := false
		for _, port := range service(t, p, tt.service).Ports {
			if port.Published == tt.published && port.Target == tt.target {
				found = true
			}
		}
		if !found {
			t.Errorf("%s does not publish %s -> %d", tt.service, tt.published, tt.target)
		}
		published[tt.service]--
	}
	for name, n := range published {
		if n != 0 {
			t.Errorf("%s publishes %d ports not listed in this test (and docs/production.md)", name, n)
		}
	}
}

// TestComposeBeamOnFlink checks the wiring the portable runner needs: the
// Go worker pool in the taskmanager's network namespace, the artifact
// directory shared by job server and taskmanager at the same path, the
// checkpoint volume shared by jobmanager and taskmanager, and the job server
// pointed at the jobmanager and at flink/conf.
func TestComposeBeamOnFlink(t *testing.T) {
	p := loadProject(t, "docker-compose.yml")
	if nm := service(t, p, "go-worker-pool").NetworkMode; nm != "service:taskmanager" {
		t.Errorf("go-worker-pool network_mode = %q, want service:taskmanager", nm)
	}
	if cmd := service(t, p, "go-worker-pool").Command; !slices.Contains(cmd, "--worker_pool") {
		t.Errorf("go-worker-pool command %v lacks --worker_pool", cmd)
	}

	js := service(t, p, "beam-job-server")
	flags := map[string]string{}
	for _, a := range js.Command {
		k, v, _ := strings.Cut(a, "=")
		flags[k] = v
	}
	artifacts := flags["--artifacts-dir"]
	if artifacts == "" {
		t.Fatalf("job server has no --artifacts-dir: %v", js.Command)
	}
	for _, name := range []string{"beam-job-server", "taskmanager"} {
		if v := volumeAt(service(t, p, name), artifacts); v == nil || v.Type != types.VolumeTypeVolume || v.Source != "beam-artifacts" {
			t.Errorf("%s does not mount named volume beam-artifacts at %s: %+v", name, artifacts, v)
		}
	}
	if flags["--flink-master"] != "jobmanager:8081" {
		t.Errorf("--flink-master = %q, want jobmanager:8081", flags["--flink-master"])
	}
	if flags["--job-host"] != "beam-job-server" || flags["--job-port"] != "8099" || flags["--artifact-port"] != "8098" {
		t.Errorf("job server endpoints %v, want beam-job-server 8099/8098", flags)
	}
	conf := volumeAt(js, flags["--flink-conf-dir"])
	if conf == nil || conf.Type != types.VolumeTypeBind || !strings.HasSuffix(conf.Source, filepath.Join("flink", "conf")) || !conf.ReadOnly {
		t.Errorf("--flink-conf-dir %q is not flink/conf mounted read-only: %+v", flags["--flink-conf-dir"], conf)
	}

	checkpointDir := strings.TrimPrefix(flinkConfig(t)["state.checkpoints.dir"], "file://")
	if checkpointDir == "" {
		t.Fatal("flink/conf/config.yaml sets no state.checkpoints.dir")
	}
	for _, name := range []string{"jobmanager", "taskmanager"} {
		s := service(t, p, name)
		v := volumeCovering(s, checkpointDir)
		if v == nil || v.Type != types.VolumeTypeVolume || v.Source != "flink-data" {
			t.Errorf("%s does not mount named volume flink-data over checkpoint dir %s", name, checkpointDir)
		}
		if c := volumeAt(s, "/opt/trendstream/flink-conf"); c == nil || !strings.HasSuffix(c.Source, filepath.Join("flink", "conf")) {
			t.Errorf("%s does not mount flink/conf where start-flink.sh copies it from", name)
		}
	}
	// The container's memory limit must cover the Flink process it runs.
	flinkConf := flinkConfig(t)
	for name, key := range map[string]string{"jobmanager": "jobmanager.memory.process.size", "taskmanager": "taskmanager.memory.process.size"} {
		limit := service(t, p, name).Deploy.Resources.Limits.MemoryBytes
		if process := megabytes(t, flinkConf, key); int64(limit) <= int64(process)<<20 {
			t.Errorf("%s memory limit %d bytes does not exceed %s %dm", name, limit, key, process)
		}
	}
}

func volumeAt(s types.ServiceConfig, target string) *types.ServiceVolumeConfig {
	for i := range s.Volumes {
		if s.Volumes[i].Target == target {
			return &s.Volumes[i]
		}
	}
	return nil
}

func volumeCovering(s types.ServiceConfig, path string) *types.ServiceVolumeConfig {
	for i := range s.Volumes {
		if t := s.Volumes[i].Target; path == t || strings.HasPrefix(path, t+"/") {
			return &s.Volumes[i]
		}
	}
	return nil
}

func TestComposeVolumes(t *testing.T) {
	p := loadProject(t, "docker-compose.yml")
	want := []string{"beam-artifacts", "flink-data", "grafana-data", "kafka-data", "postgres-data", "prometheus-data"}
	var got []string
	for name := range p.Volumes {
		got = append(got, name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("named volumes = %v, want %v", got, want)
	}
	used := map[string]bool{}
	for _, name := range p.ServiceNames() {
		for _, v := range service(t, p, name).Volumes {
			switch v.Type {
			case types.VolumeTypeVolume:
				used[v.Source] = true
			case types.VolumeTypeBind:
				// Bind mounts are our config files; a missing one would be
				// created by Docker as an empty directory.
				if v.Source == filepath.Join(p.WorkingDir, "bin", "linux_amd64") {
					continue // built by make submit
				}
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts %s: %v", name, v.Source, err)
				}
				if !v.ReadOnly {
					t.Errorf("%s mounts %s read-write; config mounts must be read-only", name, v.Source)
				}
			}
		}
	}
	for _, name := range want {
		if !used[name] {
			t.Errorf("named volume %s is mounted by no service", name)
		}
	}
}

// TestComposeScaleOverride loads the override that adds a second
// taskmanager and checks it gets its own worker pool and the shared volumes.
func TestComposeScaleOverride(t *testing.T) {
	p := loadProject(t, "docker-compose.yml", "flink/compose.scale.yml")
	tm2 := service(t, p, "taskmanager-2")
	if nm := service(t, p, "go-worker-pool-2").NetworkMode; nm != "service:taskmanager-2" {
		t.Errorf("go-worker-pool-2 network_mode = %q, want service:taskmanager-2", nm)
	}
	if tm2.Image != service(t, p, "taskmanager").Image {
		t.Errorf("taskmanager-2 image %q differs from taskmanager", tm2.Image)
	}
	for _, target := range []string{"/tmp/beam-artifact-staging", "/flink-data", "/opt/trendstream/flink-conf"} {
		if volumeAt(tm2, target) == nil {
			t.Errorf("taskmanager-2 lacks the mount at %s", target)
		}
	}
	if n := tm2.Networks["default"]; n == nil || !slices.Contains(n.Aliases, "taskmanager") {
		t.Errorf("taskmanager-2 lacks network alias taskmanager (Prometheus discovery): %+v", tm2.Networks)
	}
	if hc := service(t, p, "go-worker-pool-2").HealthCheck; hc == nil || len(hc.Test) < 2 {
		t.Error("go-worker-pool-2 has no healthcheck")
	}
}

// TestSubmitScript checks that make submit's script uses the endpoints and
// paths the compose file provides and the flags the issue prescribes.
func TestSubmitScript(t *testing.T) {
	p := loadProject(t, "docker-compose.yml")
	b, err := os.ReadFile("submit.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	sub := service(t, p, "submit")
	if len(sub.Entrypoint) != 1 {
		t.Fatalf("submit entrypoint = %v, want the pipeline binary", sub.Entrypoint)
	}
	worker := sub.Entrypoint[0]
	mount := volumeCovering(sub, worker)
	if mount == nil || mount.Source != filepath.Join(p.WorkingDir, "bin", "linux_amd64") {
		t.Errorf("submit service does not mount bin/linux_amd64 over %s: %+v", worker, mount)
	}
	for _, want := range []string{
		"CGO_ENABLED=0 GOOS=linux GOARCH=amd64",
		"-o bin/linux_amd64/" + filepath.Base(worker) + " ./pipelines/trending/cmd/trending",
		"worker=" + worker,
		"--runner=flink",
		"JOB_ENDPOINT=${JOB_ENDPOINT:-beam-job-server:8099}",
		`--endpoint="$JOB_ENDPOINT"`,
		"--environment_type=EXTERNAL",
		"--environment_config=localhost:50000",
		`--worker_binary="$worker"`,
		"--job_name=",
		"--parallelism=",
		"--async",
		"-brokers=", "-posts-topic=", "-trends-topic=", "-database-url=",
		"-window-size=", "-window-period=", "-top-k=", "-start=", "-group=",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("submit.sh lacks %q", want)
		}
	}
}
