package main

import (
	"slices"
	"strings"

	"github.com/alecthomas/kong"
)

// clientFlagNames are the flags of clientFlags, which every client command
// has (each takes a value).
var clientFlagNames = map[string]bool{"--addr": true, "--token": true, "--cacert": true,
	"--output": true, "-o": true, "--timeout": true}

// moveLeadingClientFlags lets client flags come before the command, as in
// etcdctl (`yggr --addr X get k`): the ones given before the first
// non-flag argument move to the end of the command line (before a "--",
// which ends the flags). Anything else is left for the parser to judge.
func moveLeadingClientFlags(args []string) []string {
	var moved []string
	i := 0
	for i < len(args) {
		name, _, hasValue := strings.Cut(args[i], "=")
		if _, ok := clientFlagNames[name]; !ok {
			break
		}
		n := 1
		if !hasValue && i+1 < len(args) {
			n = 2
		}
		moved = append(moved, args[i:i+n]...)
		i += n
	}
	if len(moved) == 0 || i == len(args) {
		return args
	}
	rest := args[i:]
	end := slices.Index(rest, "--")
	if end < 0 {
		end = len(rest)
	}
	out := make([]string, 0, len(args))
	out = append(out, rest[:end]...)
	out = append(out, moved...)
	return append(out, rest[end:]...)
}

// argsWantJSON reports whether the command line asks for `-o json`, for
// errors found before the flags are parsed.
func argsWantJSON(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "-ojson", a == "-o=json", a == "--output=json":
			return true
		case (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

// flagsWantJSON reports whether the parsed command has --output json.
func flagsWantJSON(kctx *kong.Context) bool {
	for _, f := range kctx.Flags() {
		if f.Name == "output" {
			v, _ := kctx.FlagValue(f).(string)
			return v == "json"
		}
	}
	return false
}
