package main

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"
)

func init() {
	register(command{
		name:    "version",
		summary: "print the build's module versions",
		setup: func(fs *flag.FlagSet) func(context.Context) error {
			return func(context.Context) error {
				bi, ok := debug.ReadBuildInfo()
				if !ok {
					return fmt.Errorf("no build info in binary")
				}
				fmt.Printf("trendstream %s (%s)\n", bi.Main.Version, bi.GoVersion)
				for _, d := range bi.Deps {
					switch d.Path {
					case "github.com/apache/beam/sdks/v2", "github.com/bluesky-social/indigo", "github.com/IBM/sarama":
						fmt.Printf("  %s %s\n", d.Path, d.Version)
					}
				}
				return nil
			}
		},
	})
}
