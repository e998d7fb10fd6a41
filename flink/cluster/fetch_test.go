package cluster_test

import (
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// beamVersion reads the Beam Go SDK version from go.mod, which cluster.sh
// follows for the job server and the Go boot program.
func beamVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/apache/beam/sdks/v2 v(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod does not require github.com/apache/beam/sdks/v2")
	}
	return string(m[1])
}

// TestJobServerFetch runs "cluster.sh fetch-job-server" against a local
// stand-in for a Maven repository: the request must name Beam's Flink job
// server for the pinned Flink minor and the module's Beam version, a refusal
// must say which artifact is missing and how to supply it without failing,
// and a download must match the repository's .sha1 to be kept.
func TestJobServerFetch(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl not found: cluster.sh downloads the job server jar with curl (Debian: apt-get install curl)")
	}
	beam := beamVersion(t)
	artifact := "beam-runners-flink-2.2-job-server"
	coords := "org.apache.beam:" + artifact + ":" + beam
	wantPath := "/org/apache/beam/" + artifact + "/" + beam + "/" + artifact + "-" + beam + ".jar"
	jar := []byte("PK\x03\x04 not really a jar")
	sum := sha1.Sum(jar)

	var mu sync.Mutex
	var asked []string
	var serve func(w http.ResponseWriter, r *http.Request)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		f := serve
		mu.Unlock()
		f(w, r)
	}))
	defer srv.Close()

	run := func(t *testing.T, handler func(w http.ResponseWriter, r *http.Request), extraEnv ...string) (out, cache string) {
		t.Helper()
		mu.Lock()
		serve, asked = handler, nil
		mu.Unlock()
		cache = t.TempDir()
		cmd := exec.Command("bash", "cluster.sh", "fetch-job-server")
		cmd.Env = append(os.Environ(), append([]string{"TRENDSTREAM_CACHE=" + cache, "MAVEN_REPO=" + srv.URL, "BEAM_FLINK_JOB_SERVER_JAR="}, extraEnv...)...)
		b, err := cmd.CombinedOutput()
		t.Logf("cluster.sh fetch-job-server:\n%s", b)
		if err != nil {
			t.Fatalf("fetch-job-server failed (%v); a missing job server must not fail it", err)
		}
		return string(b), cache
	}
	cached := func(cache string) string {
		return filepath.Join(cache, "beam-"+beam, artifact+"-"+beam+".jar")
	}

	t.Run("refused", func(t *testing.T) {
		out, cache := run(t, http.NotFound)
		for _, want := range []string{coords, "HTTP 404", srv.URL + wantPath, "BEAM_FLINK_JOB_SERVER_JAR"} {
			if !strings.Contains(out, want) {
				t.Errorf("output does not mention %q", want)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(asked) != 1 || asked[0] != wantPath {
			t.Errorf("asked the repository for %q, want only %q", asked, wantPath)
		}
		if _, err := os.Stat(cached(cache)); err == nil {
			t.Error("a refused download left a jar in the cache")
		}
	})

	t.Run("verified", func(t *testing.T) {
		out, cache := run(t, func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case wantPath:
				_, _ = w.Write(jar)
			case wantPath + ".sha1":
				_, _ = w.Write([]byte(hex.EncodeToString(sum[:])))
			default:
				http.NotFound(w, r)
			}
		})
		if !strings.Contains(out, "sha1 verified") {
			t.Error("output does not say the download was verified")
		}
		if b, err := os.ReadFile(cached(cache)); err != nil || string(b) != string(jar) {
			t.Errorf("cached jar: %q, %v; want the served bytes", b, err)
		}
	})

	t.Run("bad-sha1", func(t *testing.T) {
		out, cache := run(t, func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case wantPath:
				_, _ = w.Write(jar)
			case wantPath + ".sha1":
				_, _ = w.Write([]byte(strings.Repeat("0", 40)))
			default:
				http.NotFound(w, r)
			}
		})
		if !strings.Contains(out, "discarded") {
			t.Error("output does not say the download was discarded")
		}
		if _, err := os.Stat(cached(cache)); err == nil {
			t.Error("a jar with a wrong sha1 was kept")
		}
	})

	t.Run("local-jar", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.jar")
		out, _ := run(t, http.NotFound, "BEAM_FLINK_JOB_SERVER_JAR="+missing)
		if !strings.Contains(out, missing+" does not exist") {
			t.Error("output does not say the BEAM_FLINK_JOB_SERVER_JAR file is missing")
		}
		mu.Lock()
		defer mu.Unlock()
		if len(asked) != 0 {
			t.Errorf("with BEAM_FLINK_JOB_SERVER_JAR set, the repository was still asked for %q", asked)
		}
	})
}

// TestPins checks that the committed wheel sums name the pinned Flink
// version, and that the local cluster runs the Flink version of the Compose
// stack's image.
func TestPins(t *testing.T) {
	b, err := os.ReadFile("flink-" + flinkVersion + ".sha256")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^([0-9a-f]{64})  (\S+\.whl)$`)
	names := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("malformed line in flink-%s.sha256: %q", flinkVersion, l)
		}
		names[strings.SplitN(m[2], "-", 3)[0]+"-"+strings.SplitN(m[2], "-", 3)[1]] = true
	}
	for _, want := range []string{"apache_flink-" + flinkVersion, "apache_flink_libraries-" + flinkVersion} {
		if !names[want] {
			t.Errorf("flink-%s.sha256 has no %s wheel", flinkVersion, want)
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
