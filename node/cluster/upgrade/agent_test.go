package upgrade

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestActionInstallsOncePerGrantAndConfirmsWhenTold(t *testing.T) {
	p, err := NewPlan("p1", Request{}.with(), members(1, 1, "v1.0.0"), t0)
	require.NoError(t, err)
	self := Self{Name: "worker1", Version: "v1.0.0"}
	a, _ := NextNodeAction(p, self)
	assert.Equal(t, NodeIdle, a, "pending: nothing to do")

	p.Steps["worker1"].State, p.Steps["worker1"].Attempt = StateInstalling, 1
	a, g := NextNodeAction(p, self)
	assert.Equal(t, NodeInstall, a)
	assert.Equal(t, Grant{Plan: "p1", Attempt: 1}, g)
	self.Installed = g
	a, _ = NextNodeAction(p, self)
	assert.Equal(t, NodeIdle, a, "a grant acted on (the node fell back, the leader has not seen it yet) is not installed again")
	p.Steps["worker1"].Attempt = 2
	a, _ = NextNodeAction(p, self)
	assert.Equal(t, NodeInstall, a, "a new attempt (after resume) is")

	paused := p.Clone()
	paused.Phase = PhasePaused
	a, _ = NextNodeAction(paused, Self{Name: "worker1", Version: "v1.0.0"})
	assert.Equal(t, NodeIdle, a, "a paused plan grants no install")

	p.Steps["worker1"].State = StateVerifying
	on := Self{Name: "worker1", Version: "v2.0.0", Trial: true, Installed: Grant{Plan: "p1", Attempt: 2}}
	a, _ = NextNodeAction(p, on)
	assert.Equal(t, NodeIdle, a, "not told to confirm yet")
	p.Steps["worker1"].Confirm = true
	a, _ = NextNodeAction(p, on)
	assert.Equal(t, NodeConfirm, a)
	paused = p.Clone()
	paused.Phase = PhasePaused
	a, _ = NextNodeAction(paused, on)
	assert.Equal(t, NodeConfirm, a, "a paused plan's healthy node still confirms")
	on.Trial = false
	a, _ = NextNodeAction(p, on)
	assert.Equal(t, NodeIdle, a, "confirmed already")
	p.Phase = PhaseAborted
	on.Trial = true
	a, _ = NextNodeAction(p, on)
	assert.Equal(t, NodeIdle, a, "an aborted plan: nothing more")
	a, _ = NextNodeAction(p, Self{Name: "stranger"})
	assert.Equal(t, NodeIdle, a)
}

func TestCheckBinary(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	f, err := os.Open(self)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, CheckBinary(f), "the test binary is an executable for this machine")

	require.ErrorIs(t, CheckBinary(bytes.NewReader([]byte("#!/bin/sh\necho v2\n"))), ErrBadArtifact)
	assert.ErrorContains(t, CheckBinary(bytes.NewReader([]byte("PK\x03\x04zip"))), "not an ELF executable")

	// The same binary's header for another machine.
	data, err := os.ReadFile(self)
	require.NoError(t, err)
	other := elf.EM_AARCH64
	if elfMachines["arm64"] == elf.Machine(binary.LittleEndian.Uint16(data[18:20])) {
		other = elf.EM_X86_64
	}
	binary.LittleEndian.PutUint16(data[18:20], uint16(other))
	err = CheckBinary(bytes.NewReader(data))
	require.ErrorIs(t, err, ErrBadArtifact)
	assert.ErrorContains(t, err, "built for "+other.String())
}

func TestCheckStatic(t *testing.T) {
	// /bin/sh is a dynamically linked program on every distribution CI
	// runs; the same file with its PT_INTERP header blanked is, to
	// CheckStatic, a static one.
	data, err := os.ReadFile("/bin/sh")
	require.NoError(t, err)
	require.NoError(t, CheckBinary(bytes.NewReader(data)))
	err = CheckStatic(bytes.NewReader(data))
	require.ErrorIs(t, err, ErrBadArtifact)
	assert.ErrorContains(t, err, "dynamically linked (interpreter /lib")
	assert.ErrorContains(t, err, "CGO_ENABLED=0")

	f, err := elf.NewFile(bytes.NewReader(data))
	require.NoError(t, err)
	require.Equal(t, elf.ELFCLASS64, f.Class)
	phoff := binary.LittleEndian.Uint64(data[32:40])
	size, n := binary.LittleEndian.Uint16(data[54:56]), binary.LittleEndian.Uint16(data[56:58])
	blanked := 0
	for i := range uint64(n) {
		at := phoff + i*uint64(size)
		if elf.ProgType(binary.LittleEndian.Uint32(data[at:at+4])) == elf.PT_INTERP {
			binary.LittleEndian.PutUint32(data[at:at+4], uint32(elf.PT_NULL))
			blanked++
		}
	}
	require.Equal(t, 1, blanked)
	require.NoError(t, CheckStatic(bytes.NewReader(data)))
}
