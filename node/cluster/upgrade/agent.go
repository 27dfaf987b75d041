package upgrade

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"runtime"
	"strings"
)

// NodeAction is what a node does about its own step.
type NodeAction string

// The node's actions.
const (
	// NodeIdle: nothing to do now.
	NodeIdle NodeAction = ""
	// NodeInstall: fetch the target artifact by digest, verify it, write
	// it into the inactive boot slot and try that slot (the boot stage
	// restarts the node into it).
	NodeInstall NodeAction = "install"
	// NodeConfirm: confirm the slot on trial, which runs the target.
	NodeConfirm NodeAction = "confirm"
	// NodeRollback: make the other boot slot (the one run before the
	// upgrade) the confirmed one and restart into it.
	NodeRollback NodeAction = "rollback"
)

// Self is a node as it knows itself.
type Self struct {
	Name    string
	Version string
	// Trial: it runs its boot slot on trial.
	Trial bool
	// Installed is the grant (plan ID and attempt) the node last acted on,
	// kept in its state directory across restarts: a node that fell back
	// must not install the same grant again before the leader has seen
	// the fallback (siderolabs/omni#1552: a node re-upgraded over its good
	// slot).
	Installed Grant
}

// Grant names one grant of a plan to a node.
type Grant struct {
	Plan    string `json:"plan"`
	Attempt int    `json:"attempt"`
}

// NextNodeAction returns what self does about plan p: install once per grant,
// while the grant is new and the node does not run the target yet; confirm
// when told to, while it runs the target on trial. A paused plan's nodes
// still confirm (the leader tells them only once they are healthy); an
// aborted one's do nothing more.
func NextNodeAction(p Plan, self Self) (NodeAction, Grant) {
	s := p.Steps[self.Name]
	if s == nil || p.Phase.Finished() {
		return NodeIdle, Grant{}
	}
	g := Grant{Plan: p.ID, Attempt: s.Attempt}
	target := p.TargetOf(self.Name)
	switch {
	case s.State == StateInstalling && p.Phase == PhaseRunning && self.Version != target && self.Installed != g:
		if p.Rollback {
			return NodeRollback, g
		}
		return NodeInstall, g
	case s.State == StateVerifying && s.Confirm && self.Trial && self.Version == target:
		return NodeConfirm, g
	}
	return NodeIdle, g
}

// elfMachines maps GOARCH to the ELF machine of its binaries.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "arm": elf.EM_ARM,
	"riscv64": elf.EM_RISCV, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390,
}

// CheckBinary refuses an artifact that is not an executable for this
// machine's architecture (a process-mode bundle is cairnd alone): what
// `upgrade start` checks before it starts anything, and a node before it
// writes a slot.
func CheckBinary(r io.ReaderAt) error {
	f, err := elf.NewFile(r)
	if err != nil {
		head := make([]byte, 4)
		_, _ = r.ReadAt(head, 0)
		if !bytes.Equal(head, []byte("\x7fELF")) {
			return fmt.Errorf("%w: not an ELF executable", ErrBadArtifact)
		}
		return fmt.Errorf("%w: %w", ErrBadArtifact, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%w: ELF type %s is not an executable", ErrBadArtifact, f.Type)
	}
	if want, ok := elfMachines[runtime.GOARCH]; ok && f.Machine != want {
		return fmt.Errorf("%w: built for %s, this machine is %s (%s)", ErrBadArtifact, f.Machine, want, runtime.GOARCH)
	}
	return nil
}

// CheckStatic refuses an executable that needs a program interpreter (a
// dynamically linked one: the ELF has a PT_INTERP header): a container
// image built FROM scratch, and the initramfs, hold no C library for it,
// so it would fail to start on every node it is tried on. Call it after
// CheckBinary, for a cluster whose nodes run from an image.
func CheckStatic(r io.ReaderAt) error {
	f, err := elf.NewFile(r)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadArtifact, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		interp, _ := io.ReadAll(io.LimitReader(p.Open(), 256))
		return fmt.Errorf("%w: dynamically linked (interpreter %s), and the node image has no C library: build it with CGO_ENABLED=0, as 'make bundle' does",
			ErrBadArtifact, strings.TrimRight(string(interp), "\x00"))
	}
	return nil
}
