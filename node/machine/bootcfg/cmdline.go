package bootcfg

import (
	"fmt"
	"slices"
	"strings"
)

// Kernel command line arguments cairnd reads.
const (
	// ArgConfig names the config source: "fwcfg", a file path, or
	// "/dev/vdX:path/in/fs" (ParseSource).
	ArgConfig = "cairn.config"
	// ArgNode is this node's name in the config.
	ArgNode = "cairn.node"
	// ArgHostNet is "MAC,CIDR[,GATEWAY]" for a VM's host-forward NIC
	// (ParseHostNet).
	ArgHostNet = "cairn.hostnet"
	// ArgTestService turns on a test-only service (TestServices lists
	// them), for integration tests of PID 1: never set on a real machine,
	// as CAIRN_FAULT is never set on a real node.
	ArgTestService = "cairn.testservice"
	// ArgTimings names cairnd's timing profile (its --timings: default,
	// slow, fast); a provisioner of emulated VMs passes slow.
	ArgTimings = "cairn.timings"
)

// TestServiceOrphans is the test service that leaves an orphan behind
// each time it is killed (cairnd test-orphans): the integration test of
// the orphan reaper kills it again and again and counts zombies.
const TestServiceOrphans = "orphans"

// TestServices are the values cairn.testservice= takes.
var TestServices = []string{TestServiceOrphans}

// Cmdline is what cairnd takes from the kernel command line.
type Cmdline struct {
	// Config is where the cluster config is; the zero Source means none
	// was given.
	Config Source
	// Node is this node's name in the config, or "".
	Node string
	// HostNet is the static address of the host-forward NIC, or nil.
	HostNet *HostNet
	// TestService is a test-only service to run (one of TestServices),
	// or "".
	TestService string
	// Timings is the timing profile's name, or "" (cairnd's --timings).
	// cairnd checks the name.
	Timings string
}

// ParseCmdline parses /proc/cmdline. Arguments are split on spaces,
// double quotes group ("a b" is one word, quotes dropped), as the kernel
// splits them; everything after "--" is init's argv, not parameters.
// Unknown arguments are ignored; a cairn.* argument given twice takes the
// last, as the kernel does.
func ParseCmdline(s string) (Cmdline, error) {
	var c Cmdline
	for _, w := range splitCmdline(s) {
		if w == "--" {
			break
		}
		key, val, _ := strings.Cut(w, "=")
		var err error
		switch key {
		case ArgConfig:
			c.Config, err = ParseSource(val)
		case ArgNode:
			if val == "" {
				err = fmt.Errorf("%w: %s= is empty", ErrBadArgument, ArgNode)
			}
			c.Node = val
		case ArgHostNet:
			var hn HostNet
			hn, err = ParseHostNet(val)
			c.HostNet = &hn
		case ArgTestService:
			if !slices.Contains(TestServices, val) {
				err = fmt.Errorf("%w: %s=%q is not one of %s", ErrBadArgument, ArgTestService, val, strings.Join(TestServices, ", "))
			}
			c.TestService = val
		case ArgTimings:
			if val == "" {
				err = fmt.Errorf("%w: %s= is empty", ErrBadArgument, ArgTimings)
			}
			c.Timings = val
		}
		if err != nil {
			return Cmdline{}, err
		}
	}
	return c, nil
}

// Args renders c as kernel arguments, for a provisioner's -append:
// ParseCmdline(strings.Join(c.Args(), " ")) is c again. A file path with
// a space is quoted.
func (c Cmdline) Args() []string {
	var out []string
	if c.Config.Kind != "" {
		v := c.Config.String()
		if strings.ContainsAny(v, " \t") {
			v = `"` + v + `"`
		}
		out = append(out, ArgConfig+"="+v)
	}
	if c.Node != "" {
		out = append(out, ArgNode+"="+c.Node)
	}
	if c.HostNet != nil {
		out = append(out, ArgHostNet+"="+c.HostNet.String())
	}
	if c.TestService != "" {
		out = append(out, ArgTestService+"="+c.TestService)
	}
	if c.Timings != "" {
		out = append(out, ArgTimings+"="+c.Timings)
	}
	return out
}

func splitCmdline(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case !quoted && (r == ' ' || r == '\t' || r == '\n'):
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
