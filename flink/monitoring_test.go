package flink

import (
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Where each metric family the dashboard queries comes from: the Prometheus
// scrape job that collects it. trendstream_* names are exported by our own
// services; kafka_* by kafka-exporter; flink_* by Flink's Prometheus
// reporter; up by Prometheus itself.
var metricSources = map[string]string{
	"trendstream_ingest_posts_total":                             "ingest",
	"trendstream_ingest_events_total":                            "ingest",
	"trendstream_ingest_lag_seconds":                             "ingest",
	"trendstream_ingest_cursor":                                  "ingest",
	"trendstream_ingest_reconnects_total":                        "ingest",
	"trendstream_ingest_produce_errors_total":                    "ingest",
	"trendstream_ingest_malformed_frames_total":                  "ingest",
	"trendstream_api_requests_total":                             "api",
	"trendstream_api_stream_clients":                             "api",
	"trendstream_api_last_window_end_seconds":                    "api",
	"trendstream_api_snapshots_published_total":                  "api",
	"kafka_topic_partition_current_offset":                       "kafka",
	"kafka_consumergroup_lag":                                    "kafka",
	"flink_taskmanager_job_task_numRecordsInPerSecond":           "flink-taskmanager",
	"flink_taskmanager_job_task_operator_currentOutputWatermark": "flink-taskmanager",
	"flink_jobmanager_job_numRestarts":                           "flink-jobmanager",
	"flink_jobmanager_job_numberOfCompletedCheckpoints":          "flink-jobmanager",
	"flink_jobmanager_job_numberOfFailedCheckpoints":             "flink-jobmanager",
	"flink_jobmanager_numRegisteredTaskManagers":                 "flink-jobmanager",
	"flink_jobmanager_numRunningJobs":                            "flink-jobmanager",
	"up":                                                         "",
}

// Beam user counters reach Prometheus through the Flink runner, which
// registers each as an operator counter named "<step>.<namespace>.<name>";
// the reporter replaces the dots. The step id is the pipeline's transform
// id, unknown in advance, so the dashboard matches it with a regex. Each
// counter the dashboard expects is listed with an example of the resulting
// Prometheus name.
var beamCounters = map[string]string{
	"kafkaio/records_read":       "flink_taskmanager_job_task_operator_e12_kafkaio_records_read",
	"trending/snapshots_emitted": "flink_taskmanager_job_task_operator_e27_trending_snapshots_emitted",
	"pgsink/snapshots_written":   "flink_taskmanager_job_task_operator_e31_pgsink_snapshots_written",
}

type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int        `json:"id"`
	Type       string     `json:"type"`
	Title      string     `json:"title"`
	Datasource datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string     `json:"refId"`
		Expr       string     `json:"expr"`
		Datasource datasource `json:"datasource"`
	} `json:"targets"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "dashboards", "trendstream.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type promConfig struct {
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

func TestDashboardQueriesKnownMetrics(t *testing.T) {
	d := readDashboard(t)
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, "deploy/grafana/provisioning/datasources/prometheus.yaml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("want one prometheus datasource, got %+v", ds.Datasources)
	}
	uid := ds.Datasources[0].UID

	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q: both required", d.UID, d.Title)
	}
	jobs := scrapeJobs(t)
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W < 1 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != uid || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %q (want %q), %d targets", p.Title, p.Datasource.UID, uid, len(p.Targets))
		}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != uid {
				t.Errorf("panel %q %s: datasource %q, want %q", p.Title, tg.RefID, tg.Datasource.UID, uid)
			}
			names, regexes, err := metricNames(tg.Expr)
			if err != nil || len(names)+len(regexes) == 0 {
				t.Errorf("panel %q %s: %q: names %v, err %v", p.Title, tg.RefID, tg.Expr, names, err)
			}
			for _, n := range names {
				used[n] = true
				job, ok := metricSources[n]
				if !ok {
					t.Errorf("panel %q queries %s, which is not in metricSources", p.Title, n)
				} else if job != "" && !jobs[job] {
					t.Errorf("%s comes from scrape job %q, which prometheus.yml lacks", n, job)
				}
			}
			for _, re := range regexes {
				rx, err := regexp.Compile("^(?:" + re + ")$")
				if err != nil {
					t.Errorf("panel %q: __name__ regex %q: %v", p.Title, re, err)
					continue
				}
				matched := false
				for counter, example := range beamCounters {
					if rx.MatchString(example) {
						matched = true
						used[counter] = true
					}
				}
				if !matched {
					t.Errorf("panel %q: regex %q matches no expected Beam counter", p.Title, re)
				}
			}
		}
	}
	for n := range metricSources {
		if !used[n] {
			t.Errorf("metricSources lists %s, which no panel queries", n)
		}
	}
	for c := range beamCounters {
		if !used[c] {
			t.Errorf("Beam counter %s is queried by no panel", c)
		}
	}
}

// TestDashboardMetricsExistInCode reads the repository's Go sources for the
// trendstream_* metric names and Beam counters they register, and fails when
// the dashboard queries a name the code does not export. A service whose metrics are not
// in the tree yet (no trendstream_<service>_ name at all) is reported, not
// failed, so the dashboard can lead the code by one merge.
func TestDashboardMetricsExistInCode(t *testing.T) {
	defined := definedMetricNames(t)
	for counter := range beamCounters {
		if !defined[counter] {
			t.Errorf("dashboard expects Beam counter %s, but no Go source declares beam.NewCounter for it", counter)
		}
	}
	byService := map[string][]string{}
	for n := range metricSources {
		if rest, ok := strings.CutPrefix(n, "trendstream_"); ok {
			svc, _, _ := strings.Cut(rest, "_")
			byService[svc] = append(byService[svc], n)
		}
	}
	for svc, names := range byService {
		prefix := "trendstream_" + svc + "_"
		found := false
		for d := range defined {
			if strings.HasPrefix(d, prefix) {
				found = true
			}
		}
		if !found {
			t.Logf("no Go source defines %s* metrics yet; dashboard expects %v", prefix, names)
			continue
		}
		for _, n := range names {
			if !defined[n] {
				t.Errorf("dashboard queries %s, but no Go source registers it (have %v)", n, keysWithPrefix(defined, prefix))
			}
		}
	}
}

var (
	metricLiteral  = regexp.MustCompile(`"(trendstream_[a-z0-9_]+)"`)
	counterLiteral = regexp.MustCompile(`beam\.NewCounter\(\s*"([^"]+)",\s*"([^"]+)"\s*\)`)
)

func definedMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	defined := map[string]bool{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != repoRoot && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules" || n == "bin" || n == "data") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metricLiteral.FindAllSubmatch(b, -1) {
			defined[string(m[1])] = true
		}
		for _, m := range counterLiteral.FindAllSubmatch(b, -1) {
			defined[string(m[1])+"/"+string(m[2])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return defined
}

func keysWithPrefix(m map[string]bool, prefix string) []string {
	var out []string
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func scrapeJobs(t *testing.T) map[string]bool {
	t.Helper()
	var pc promConfig
	readYAML(t, "deploy/prometheus/prometheus.yml", &pc)
	jobs := map[string]bool{}
	for _, sc := range pc.ScrapeConfigs {
		jobs[sc.JobName] = true
	}
	return jobs
}

// TestPrometheusTargetsExist checks every scrape target against the compose
// file: the host is a service (or a network alias of one) and the port is
// the one that service serves metrics on.
func TestPrometheusTargetsExist(t *testing.T) {
	var pc promConfig
	readYAML(t, "deploy/prometheus/prometheus.yml", &pc)
	p := loadProject(t, "docker-compose.yml")
	wantPort := map[string]string{
		"ingest":         "9101",
		"api":            "8080",
		"jobmanager":     flinkConfig(t)["metrics.reporter.prom.port"],
		"taskmanager":    flinkConfig(t)["metrics.reporter.prom.port"],
		"kafka-exporter": "9308",
		"127.0.0.1":      "9090", // Prometheus itself
	}
	seen := map[string]bool{}
	for _, sc := range pc.ScrapeConfigs {
		var targets []string
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
		for _, dns := range sc.DNSSDConfigs {
			if dns.Type != "A" {
				t.Errorf("job %s: dns_sd type %q, want A (compose DNS has no SRV records)", sc.JobName, dns.Type)
			}
			for _, n := range dns.Names {
				targets = append(targets, net.JoinHostPort(n, strconv.Itoa(dns.Port)))
			}
		}
		if len(targets) == 0 {
			t.Errorf("job %s has no targets", sc.JobName)
		}
		for _, target := range targets {
			host, port, err := net.SplitHostPort(target)
			if err != nil {
				t.Errorf("job %s target %q: %v", sc.JobName, target, err)
				continue
			}
			seen[host] = true
			if host != "127.0.0.1" {
				if _, err := p.GetService(host); err != nil {
					t.Errorf("job %s scrapes %s, which is not a compose service", sc.JobName, host)
				}
			}
			if wantPort[host] != port {
				t.Errorf("job %s scrapes %s:%s, want port %q", sc.JobName, host, port, wantPort[host])
			}
		}
	}
	for host := range wantPort {
		if !seen[host] {
			t.Errorf("no scrape job targets %s", host)
		}
	}
	// The ports the targets use are the ones the services are told to serve.
	if got := service(t, p, "ingest").Environment["TRENDSTREAM_METRICS_ADDR"]; got == nil || *got != ":9101" {
		t.Errorf("ingest TRENDSTREAM_METRICS_ADDR = %v, want :9101", got)
	}
	if cmd := strings.Join(service(t, p, "api").Command, " "); !strings.Contains(cmd, "-addr :8080") {
		t.Errorf("api command %q does not serve on :8080", cmd)
	}
	if cmd := strings.Join(service(t, p, "kafka-exporter").Command, " "); !strings.Contains(cmd, "--web.listen-address=:9308") {
		t.Errorf("kafka-exporter command %q does not listen on :9308", cmd)
	}
}

// TestGrafanaProvisioning checks that Grafana is given the files it needs
// where the provisioning expects them.
func TestGrafanaProvisioning(t *testing.T) {
	p := loadProject(t, "docker-compose.yml")
	g := service(t, p, "grafana")
	var providers struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "deploy/grafana/provisioning/dashboards/trendstream.yaml", &providers)
	if len(providers.Providers) != 1 || providers.Providers[0].Type != "file" {
		t.Fatalf("want one file provider, got %+v", providers.Providers)
	}
	dir := providers.Providers[0].Options.Path
	if v := volumeAt(g, dir); v == nil || v.Source != filepath.Join(p.WorkingDir, "deploy", "grafana", "dashboards") {
		t.Errorf("grafana does not mount deploy/grafana/dashboards at %s: %+v", dir, v)
	}
	if v := volumeAt(g, "/etc/grafana/provisioning"); v == nil || v.Source != filepath.Join(p.WorkingDir, "deploy", "grafana", "provisioning") {
		t.Errorf("grafana does not mount deploy/grafana/provisioning: %+v", v)
	}
	home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	if home == nil || filepath.Dir(*home) != dir {
		t.Errorf("home dashboard %v is not in %s", home, dir)
	} else if _, err := os.Stat(filepath.Join(repoRoot, "deploy", "grafana", "dashboards", filepath.Base(*home))); err != nil {
		t.Errorf("home dashboard: %v", err)
	}
	var ds struct {
		Datasources []struct {
			URL string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, "deploy/grafana/provisioning/datasources/prometheus.yaml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("datasource URL %+v, want http://prometheus:9090", ds.Datasources)
	}
	if _, err := p.GetService("prometheus"); err != nil {
		t.Error(err)
	}
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr    string
		names   []string
		regexes []string
	}{
		{`up`, []string{"up"}, nil},
		{`sum(rate(trendstream_ingest_posts_total[1m]))`, []string{"trendstream_ingest_posts_total"}, nil},
		{`sum by (kind) (rate(trendstream_ingest_events_total{kind!="x"}[5m])) * 60`, []string{"trendstream_ingest_events_total"}, nil},
		{`(time() * 1000 - min(a > 0 < 4e12)) / 1000`, []string{"a"}, nil},
		{`sum(rate({__name__=~"flink_.+_kafkaio_records_read"}[1m]))`, nil, []string{"flink_.+_kafkaio_records_read"}},
		{`{__name__="x_total", job="j"} / on (job) group_left (instance) y`, []string{"x_total", "y"}, nil},
		{`max without (pod) (a) or b unless c`, []string{"a", "b", "c"}, nil},
	}
	for _, tt := range tests {
		names, regexes, err := metricNames(tt.expr)
		if err != nil {
			t.Errorf("metricNames(%q): %v", tt.expr, err)
			continue
		}
		if !slices.Equal(names, tt.names) || !slices.Equal(regexes, tt.regexes) {
			t.Errorf("metricNames(%q) = %v, %v; want %v, %v", tt.expr, names, regexes, tt.names, tt.regexes)
		}
	}
	if _, _, err := metricNames(`sum(x{a="b"`); err == nil {
		t.Error("unterminated matcher accepted")
	}
}
