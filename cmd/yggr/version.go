package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version from the build info is used.
var version = ""

// versionCmd prints the version.
type versionCmd struct{}

// Help is the detailed help with examples.
func (c *versionCmd) Help() string {
	return `Examples:
  yggr version`
}

// Run prints the version.
func (c *versionCmd) Run(e *env) error {
	_, err := fmt.Fprintf(e.stdout, "yggr %s %s %s/%s\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
