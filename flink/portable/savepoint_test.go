package portable

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// savepointAndCancel stops job id with `flink/jobs.sh stop` (a savepoint,
// then cancel; what make cluster-stop runs) and returns the savepoint's
// path, which the script prints. A savepoint refused while the job's
// tasks are still (re)starting is retried until timeout.
func (c *flinkCluster) savepointAndCancel(t *testing.T, id string, timeout time.Duration) string {
	t.Helper()
	name := c.jobName(t, id)
	deadline := time.Now().Add(timeout)
	for {
		out, stderr, err := c.jobsScript("stop", name)
		if path := strings.TrimSpace(out); err == nil && path != "" {
			return path
		}
		if time.Now().After(deadline) {
			t.Fatalf("flink/jobs.sh stop %s: %v\n%s%s", name, err, out, stderr)
		}
		t.Logf("flink/jobs.sh stop %s: %v (%s); retrying", name, err, strings.TrimSpace(stderr))
		time.Sleep(2 * time.Second)
	}
}

// jobName returns the Flink name of job id, which flink/jobs.sh matches.
func (c *flinkCluster) jobName(t *testing.T, id string) string {
	t.Helper()
	var job struct{ Name string }
	if err := c.getJSON("/jobs/"+id, &job); err != nil {
		t.Fatal(err)
	}
	return job.Name
}

// jobsScript runs `flink/jobs.sh VERB NAME` against this cluster.
func (c *flinkCluster) jobsScript(verb, name string) (stdout, stderr string, err error) {
	cmd := exec.Command("bash", "../jobs.sh", verb, name)
	cmd.Env = append(os.Environ(), "FLINK_REST="+c.url(""))
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	return string(out), errb.String(), err
}

// restoredSavepoint returns the external path of the savepoint job id
// was restored from ("" if none).
func (c *flinkCluster) restoredSavepoint(t *testing.T, id string) string {
	t.Helper()
	var cp struct {
		Latest struct {
			Restored *struct {
				IsSavepoint  bool   `json:"is_savepoint"`
				ExternalPath string `json:"external_path"`
			} `json:"restored"`
		} `json:"latest"`
	}
	if err := c.getJSON("/jobs/"+id+"/checkpoints", &cp); err != nil {
		t.Fatal(err)
	}
	if r := cp.Latest.Restored; r != nil && r.IsSavepoint {
		return r.ExternalPath
	}
	return ""
}

// waitGone waits until job id no longer runs (a cancelled job leaves
// RUNNING through CANCELLING).
func (c *flinkCluster) waitGone(t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var j struct{ State string }
		err := c.getJSON("/jobs/"+id, &j)
		if err == nil && (j.State == "CANCELED" || j.State == "FINISHED" || j.State == "FAILED") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %q %v after %v", id, j.State, err, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitRestored waits until job id reports its restore from savepoint sp.
func (c *flinkCluster) waitRestored(t *testing.T, id, sp string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := c.restoredSavepoint(t, id)
		if got != "" {
			if got != sp {
				t.Fatalf("job %s restored savepoint %s, want %s", id, got, sp)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s shows no restore from savepoint %s after %v", id, sp, timeout)
		}
		time.Sleep(time.Second)
	}
}

// checkStateReport runs `flink/jobs.sh state` on job id (what an operator
// runs to see which stage's state grows) and checks it lists the Kafka
// reader's stage with its bytes. A job with no completed checkpoint yet is
// asked again until timeout.
func (c *flinkCluster) checkStateReport(t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	name := c.jobName(t, id)
	deadline := time.Now().Add(timeout)
	for {
		out, stderr, err := c.jobsScript("state", name)
		if err == nil && strings.HasPrefix(out, "checkpoint ") && strings.Contains(out, "kafkaio.Read") {
			t.Logf("flink/jobs.sh state %s:\n%s", name, out)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("flink/jobs.sh state %s: %v\n%s%s", name, err, out, stderr)
		}
		time.Sleep(2 * time.Second)
	}
}
