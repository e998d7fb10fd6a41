// Package flagtest checks a command's flag parsing against a table of
// command lines and environments. The harness commands (trendchaos,
// trendsoak) parse alike: flags with environment twins (envflag), and a
// parse that says whether to run and, if not, with which exit status; one
// runner checks them alike.
package flagtest

import (
	"bytes"
	"io"
	"testing"
)

// Case is one command line: its arguments and environment, whether the
// command would run (WantOK) or else exit with WantCode, and Check, when
// set, of the options it would run with.
type Case[O any] struct {
	Name     string
	Args     []string
	Env      map[string]string
	WantOK   bool
	WantCode int
	Check    func(t *testing.T, o O)
}

// Parse runs each case as a subtest of t through parse, which reads the
// flags and environment, writes its complaints to stderr and returns the
// options, the exit status and whether to run.
func Parse[O any](t *testing.T, parse func(args []string, stderr io.Writer) (O, int, bool), cases []Case[O]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			for k, v := range tc.Env {
				t.Setenv(k, v)
			}
			var stderr bytes.Buffer
			o, code, ok := parse(tc.Args, &stderr)
			if ok != tc.WantOK || code != tc.WantCode {
				t.Fatalf("ok %v code %d, want %v %d; stderr: %s", ok, code, tc.WantOK, tc.WantCode, stderr.String())
			}
			if tc.Check != nil {
				tc.Check(t, o)
			}
		})
	}
}
