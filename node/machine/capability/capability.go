// Package capability decides once, from the mode cairnd runs in, what this
// machine may do: mount filesystems, reap orphans, own the kernel's
// network, set the hostname, load kernel modules, write sysctls, reboot,
// switch boot slots, run containers. Controllers ask the one value instead of
// comparing mode strings, and what a mode lacks is reported as status
// (MachineStatus) rather than failing or warning once in a log line.
package capability

import "fmt"

// Modes cairnd runs in (shared DESIGN.md, "Binaries and modes").
const (
	ModePID1      = "pid1"
	ModeContainer = "container"
	ModeProcess   = "process"
)

// Name names one capability.
type Name string

// The capabilities a machine may have.
const (
	Mounts           Name = "mounts"
	Reaping          Name = "reaping"
	KernelNetwork    Name = "kernelNetwork"
	Hostname         Name = "hostname"
	KernelModules    Name = "kernelModules"
	Sysctls          Name = "sysctls"
	Reboot           Name = "reboot"
	BootSlots        Name = "bootSlots"
	ContainerRuntime Name = "containerRuntime"
)

// All lists every capability, in the order status shows them.
var All = []Name{Mounts, Reaping, KernelNetwork, Hostname, KernelModules, Sysctls, Reboot, BootSlots, ContainerRuntime}

// Set is what this machine may do, decided once at start.
type Set struct {
	// Mode is the mode the set was derived from.
	Mode string
	have map[Name]bool
	why  map[Name]string // why a capability is missing
}

// ForMode returns the capabilities of a mode:
//   - pid1 (booted by a kernel) may do everything;
//   - container (PID 1 of a container) owns its network, UTS and PID
//     namespaces and may run containers, but the container runtime mounts
//     its filesystems, the host owns kernel modules, and reboot means
//     exiting to the runtime; it has sysctls, but only its namespaces'
//     parameters are writable, and only where the runtime mounted
//     /proc/sys writable, so each failed write is reported per parameter;
//   - process (an ordinary process: local clusters, tests) may do none of
//     it, except switching boot slots, which its boot stage does.
func ForMode(mode string) (Set, error) {
	s := Set{Mode: mode, have: map[Name]bool{}, why: map[Name]string{}}
	lack := func(n Name, why string) { s.why[n] = why }
	switch mode {
	case ModePID1:
	case ModeContainer:
		lack(Mounts, "the container runtime mounts the container's filesystems")
		lack(KernelModules, "kernel modules belong to the host")
		lack(Reboot, "a container exits to its runtime instead of rebooting")
	case ModeProcess:
		const why = "cairnd runs as an ordinary process (process mode)"
		for _, n := range All {
			if n != BootSlots {
				lack(n, why)
			}
		}
	default:
		return Set{}, fmt.Errorf("unknown mode %q: want %s, %s or %s", mode, ModePID1, ModeContainer, ModeProcess)
	}
	for _, n := range All {
		if _, missing := s.why[n]; !missing {
			s.have[n] = true
		}
	}
	return s, nil
}

// Has reports whether the machine may use capability n.
func (s Set) Has(n Name) bool { return s.have[n] }

// Reason says why the machine lacks capability n, or "" if it has it.
func (s Set) Reason(n Name) string { return s.why[n] }

// Status is one capability as MachineStatus reports it.
type Status struct {
	Name      Name   `json:"name"`
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
}

// Statuses lists every capability with whether it is available and, if
// not, why.
func (s Set) Statuses() []Status {
	out := make([]Status, 0, len(All))
	for _, n := range All {
		out = append(out, Status{Name: n, Available: s.have[n], Reason: s.why[n]})
	}
	return out
}
