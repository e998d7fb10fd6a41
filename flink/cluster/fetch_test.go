package cluster_test

import (
	"archive/zip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestJobServerFetch runs "cluster.sh fetch-job-server" with a stand-in
// for Maven: the job server is resolved from jobserver/pom.xml into the
// cache (checksums enforced with -C), reused while the pom is unchanged,
// resolved again when it changes; a refusal says which artifact is missing
// and how to supply the job server without failing; and
// BEAM_FLINK_JOB_SERVER_JAR skips Maven. The real resolution from Maven
// Central runs in flink/portable's TestPipelinesOnFlink.
func TestJobServerFetch(t *testing.T) {
	bin := t.TempDir()
	calls := filepath.Join(bin, "calls")
	// The stand-in writes two jars where -DoutputDirectory says, and logs
	// its arguments, or fails like a refusing registry.
	mvn := filepath.Join(bin, "mvn")
	script := `#!/usr/bin/env bash
echo "$*" >>"` + calls + `"
if [ -n "${FAKE_MVN_FAIL:-}" ]; then
  echo "[ERROR] Could not resolve dependencies: org.apache.beam:beam-runners-flink-1.19:jar:2.62.0 was not found" >&2
  exit 1
fi
for a in "$@"; do
  case $a in -DoutputDirectory=*) out=${a#-DoutputDirectory=} ;; esac
done
mkdir -p "$out" && echo jar >"$out/beam-runners-flink-1.19-2.62.0.jar" && echo jar >"$out/flink-runtime-1.19.0.jar"
`
	if err := os.WriteFile(mvn, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	pom, err := os.ReadFile(filepath.Join("jobserver", "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, cache string, extraEnv ...string) string {
		t.Helper()
		cmd := exec.Command("bash", "cluster.sh", "fetch-job-server")
		// The stand-in cannot serve Beam's sources, so the residual patch
		// is left out here; TestResidualsPatch and flink/portable's live
		// run (checkReaderStateBounded) test it.
		cmd.Env = append(os.Environ(), append([]string{"TRENDSTREAM_CACHE=" + cache, "MVN=" + mvn, "BEAM_FLINK_JOB_SERVER_JAR=", "CLUSTER_RESIDUALS_PATCH=0"}, extraEnv...)...)
		b, err := cmd.CombinedOutput()
		t.Logf("cluster.sh fetch-job-server:\n%s", b)
		if err != nil {
			t.Fatalf("fetch-job-server failed (%v); a missing job server must not fail it", err)
		}
		return string(b)
	}
	ncalls := func(t *testing.T) int {
		b, err := os.ReadFile(calls)
		if os.IsNotExist(err) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "\n")
	}
	libs := func(cache string) []string {
		m, _ := filepath.Glob(filepath.Join(cache, "beam-flink-1.19-job-server-2.62.0", "lib", "*.jar"))
		return m
	}

	t.Run("resolved-then-cached", func(t *testing.T) {
		_ = os.Remove(calls)
		cache := t.TempDir()
		out := run(t, cache)
		if n := len(libs(cache)); n != 2 || !strings.Contains(out, "2 jars in") {
			t.Fatalf("resolved %d jars, output %q; want the stand-in's 2", n, out)
		}
		b, _ := os.ReadFile(calls)
		for _, want := range []string{"-C", "dependency:copy-dependencies", filepath.Join("jobserver", "pom.xml")} {
			if !strings.Contains(string(b), want) {
				t.Errorf("mvn was called with %q, which lacks %q", b, want)
			}
		}
		out = run(t, cache)
		if ncalls(t) != 1 || !strings.Contains(out, "(cached)") {
			t.Errorf("a second fetch called mvn again (%d calls) or did not say cached", ncalls(t))
		}
		// A changed pom is resolved again.
		stamp := filepath.Join(cache, "beam-flink-1.19-job-server-2.62.0", ".built-from")
		if err := os.WriteFile(stamp, []byte("an older pom\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, cache)
		if ncalls(t) != 2 {
			t.Errorf("a changed pom was not resolved again (%d mvn calls, want 2)", ncalls(t))
		}
	})

	t.Run("refused", func(t *testing.T) {
		cache := t.TempDir()
		out := run(t, cache, "FAKE_MVN_FAIL=1")
		for _, want := range []string{"org.apache.beam:beam-runners-flink-1.19:2.62.0", "NOT available", "was not found", "BEAM_FLINK_JOB_SERVER_JAR"} {
			if !strings.Contains(out, want) {
				t.Errorf("output does not mention %q", want)
			}
		}
		if len(libs(cache)) != 0 {
			t.Error("a refused resolution left jars in the cache")
		}
	})

	t.Run("local-jar", func(t *testing.T) {
		_ = os.Remove(calls)
		missing := filepath.Join(t.TempDir(), "nope.jar")
		out := run(t, t.TempDir(), "BEAM_FLINK_JOB_SERVER_JAR="+missing)
		if !strings.Contains(out, missing+" does not exist") {
			t.Error("output does not say the BEAM_FLINK_JOB_SERVER_JAR file is missing")
		}
		if ncalls(t) != 0 {
			t.Error("with BEAM_FLINK_JOB_SERVER_JAR set, mvn was still called")
		}
	})

	if !strings.Contains(string(pom), "<artifactId>beam-runners-flink-1.19</artifactId>") {
		t.Error("jobserver/pom.xml does not depend on beam-runners-flink-1.19, the Flink minor cluster.sh runs")
	}
}

// TestResidualsPatch checks that jobserver/residuals/patch.py refuses
// sources it does not recognise: each of its edits must match exactly once,
// so that another Beam version fails the fetch instead of compiling a
// half-edited runner. Its edits of the real 2.62.0 sources are compiled by
// every cluster start and checked by flink/portable's live run.
func TestResidualsPatch(t *testing.T) {
	files := []string{
		"org/apache/beam/runners/fnexecution/control/BundleCheckpointHandlers.java",
		"org/apache/beam/runners/flink/translation/wrappers/streaming/ExecutableStageDoFnOperator.java",
		"org/apache/beam/runners/flink/translation/functions/FlinkExecutableStageFunction.java",
	}
	for _, tc := range []struct {
		name, content string
	}{
		{"no anchors", "class X {}\n"},
		{"an anchor twice", "\n    @Override\n    public void onCheckpoint(\n    @Override\n    public void onCheckpoint(\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range files {
				p := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command("python3", filepath.Join("jobserver", "residuals", "patch.py"), dir).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "expected one match") {
				t.Fatalf("patch.py on unknown sources: err %v, output %q; want a refusal naming the edit", err, out)
			}
			b, _ := os.ReadFile(filepath.Join(dir, files[0]))
			if string(b) != tc.content {
				t.Error("patch.py changed a file it refused")
			}
		})
	}
}

// TestResidualsBuild checks that jobserver/residuals/build.sh, the one
// build of the patch (cluster.sh and the Dockerfile's job-server-patch
// stage), stops with a clear error and leaves no jar behind when it cannot
// build: no job server jars, Maven refusing, sources without the classes
// to edit. Its build of the real sources runs at every cluster fetch.
func TestResidualsBuild(t *testing.T) {
	javac, err := exec.LookPath("javac")
	if err != nil {
		t.Fatalf("javac not found: the residual patch needs a JDK (make deps): %v", err)
	}
	build, err := filepath.Abs(filepath.Join("jobserver", "residuals", "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	// fakeMaven writes a mvn that copies the jars of dir into the
	// -DoutputDirectory it is given, or fails when dir is "".
	fakeMaven := func(t *testing.T, dir string) string {
		bin := filepath.Join(t.TempDir(), "mvn")
		script := "#!/bin/sh\necho '[ERROR] Could not resolve dependencies'; exit 1\n"
		if dir != "" {
			script = "#!/bin/sh\nfor a; do case $a in -DoutputDirectory=*) out=${a#-DoutputDirectory=};; esac; done\n" +
				"mkdir -p \"$out\" && cp " + dir + "/*.jar \"$out\"/\n"
		}
		if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		return bin
	}
	// sourcesJars writes the two sources jars with only the first of the
	// Flink runner's two classes.
	sourcesJars := func(t *testing.T) string {
		dir := t.TempDir()
		for name, files := range map[string][]string{
			"beam-runners-java-fn-execution-2.62.0-sources.jar": {"org/apache/beam/runners/fnexecution/control/BundleCheckpointHandlers.java"},
			"beam-runners-flink-1.19-2.62.0-sources.jar":        {"org/apache/beam/runners/flink/translation/wrappers/streaming/ExecutableStageDoFnOperator.java"},
		} {
			f, err := os.Create(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			zw := zip.NewWriter(f)
			for _, file := range files {
				w, err := zw.Create(file)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(w, "class X {}")
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		return dir
	}
	for _, tc := range []struct {
		name    string
		lib     bool
		sources func(t *testing.T) string // "" for a Maven that fails
		want    string
	}{
		{"no job server jars", false, func(*testing.T) string { return "" }, "no job server jars"},
		{"maven refuses", true, func(*testing.T) string { return "" }, "Maven could not resolve the sources to patch"},
		{"a class missing from the sources", true, sourcesJars, "the sources jars lack a file to patch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			lib := filepath.Join(dir, "lib")
			if tc.lib {
				if err := os.Mkdir(lib, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(dir, "patch", "beam-27648-residuals.jar")
			cmd := exec.Command("bash", build, lib, out)
			cmd.Env = append(os.Environ(), "JAVAC="+javac, "MVN="+fakeMaven(t, tc.sources(t)))
			b, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(b), tc.want) {
				t.Fatalf("build.sh: err %v, output %q; want a failure saying %q", err, b, tc.want)
			}
			left, _ := filepath.Glob(filepath.Join(dir, "patch", "*"))
			if len(left) > 0 {
				t.Errorf("build.sh left %v behind", left)
			}
		})
	}
}

// TestPins checks that the committed wheel sums name the pinned Flink
// version, and that the local cluster runs the Flink version of the Compose
// stack's image.
func TestPins(t *testing.T) {
	b, err := os.ReadFile("flink-" + flinkVersion + ".sha256")
	if err != nil {
		t.Fatal(err)
	}
	// apache-flink is a wheel; apache-flink-libraries is a source archive
	// for Flink 1.19 (a wheel from 2.2 on).
	line := regexp.MustCompile(`^([0-9a-f]{64})  (\S+\.(?:whl|tar\.gz))$`)
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("malformed line in flink-%s.sha256: %q", flinkVersion, l)
		}
		names = append(names, m[2])
	}
	for _, want := range []string{"apache_flink-" + flinkVersion + "-", "apache-flink-libraries-" + flinkVersion + ".tar.gz"} {
		found := false
		for _, n := range names {
			found = found || strings.HasPrefix(n, want)
		}
		if !found {
			t.Errorf("flink-%s.sha256 names no %s file", flinkVersion, want)
		}
	}
	script, err := os.ReadFile("cluster.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "\nFLINK_VERSION="+flinkVersion+"\n") {
		t.Errorf("cluster.sh does not pin FLINK_VERSION=%s", flinkVersion)
	}
	compose, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(compose), "image: flink:"+flinkVersion+"-java17") {
		t.Errorf("docker-compose.yml does not run flink:%s-java17, the version cluster.sh runs", flinkVersion)
	}
}
