// Package envflag gives every command-line flag an environment-variable twin.
//
// A flag named "kafka-brokers" on a FlagSet parsed with prefix "TRENDSTREAM"
// can also be set as TRENDSTREAM_KAFKA_BROKERS. The command line wins over the
// environment, and the environment wins over the flag's default, so a
// container can be configured entirely by env while a developer still
// overrides one value by hand.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// Name returns the environment variable that sets flag name under prefix.
func Name(prefix, name string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	n := strings.ToUpper(r.Replace(name))
	if prefix == "" {
		return n
	}
	return prefix + "_" + n
}

// Parse parses args into fs, then fills every flag not given on the command
// line from its environment twin. A malformed environment value is an error
// that names the variable, so a broken config fails loudly at start-up.
func Parse(fs *flag.FlagSet, prefix string, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	return Apply(fs, prefix, os.LookupEnv)
}

// Apply fills every flag of an already parsed fs that was not set on the
// command line from lookup(Name(prefix, flag)). It is Parse's second half, for
// programs whose flags are parsed elsewhere (Beam's beam.Init parses the
// global flag.CommandLine itself).
func Apply(fs *flag.FlagSet, prefix string, lookup func(string) (string, bool)) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := Name(prefix, f.Name)
		v, ok := lookup(env)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("environment %s=%q: %w", env, v, err))
		}
	})
	return errors.Join(errs...)
}

// Usage returns a flag.FlagSet Usage function that prints a synopsis, the
// flags with their defaults, and each flag's environment twin.
func Usage(fs *flag.FlagSet, prefix, synopsis string) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintln(w, synopsis)
		fmt.Fprintln(w, "\nFlags (each also settable by the environment variable shown):")
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(w, "  -%s", f.Name)
			if name != "" {
				fmt.Fprintf(w, " %s", name)
			}
			fmt.Fprintf(w, "\n    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "[]" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "\n    \t[$%s]\n", Name(prefix, f.Name))
		})
	}
}
