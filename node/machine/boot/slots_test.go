//go:build unix

package boot_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/boot"
	"github.com/cairn-project/cairn/node/machine/supervisor/supervisortest"
)

// installSlot writes slot's binary: a script that notes the slot and trial
// the boot stage gave it in STATE/slot-starts, then runs the test program
// with the child's arguments and extra ones (exit=3: a release that exits
// at start).
func installSlot(t *testing.T, dir, slot string, extra ...string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(boot.SlotDir(dir, slot), 0o700))
	script := fmt.Sprintf("#!/bin/sh\necho \"%s $%s $%s\" >> %s\nexec %s \"$@\" %s\n",
		slot, boot.EnvSlot, boot.EnvTrial, filepath.Join(dir, "slot-starts"), supervisortest.Path(), strings.Join(extra, " "))
	require.NoError(t, os.WriteFile(boot.SlotBinary(dir, slot), []byte(script), 0o755))
}

// slotStarts is what the slot binaries noted, one "SLOT ENVSLOT TRIAL" a
// start.
func slotStarts(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "slot-starts"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "_"))
}

// waitStarts waits until the slot binaries noted want.
func waitStarts(t *testing.T, dir string, want []string, msg string) {
	t.Helper()
	require.Eventually(t, func() bool { return slices.Equal(slotStarts(t, dir), want) }, 10*time.Second, 10*time.Millisecond,
		"%s: want %v", msg, want)
}

func (s *stage) do(req boot.Request) (boot.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return boot.Do(ctx, s.dir, req)
}

func slotOptions() boot.Options {
	return boot.Options{Command: childCommand(), Slots: true, Backoff: boot.Backoff{Initial: 50 * time.Millisecond, Max: 50 * time.Millisecond}}
}

// A node without a boot record runs slot A from its own program; a try of
// slot B runs B's binary as a trial; confirming it makes B the slot every
// later start runs, a new boot stage included; rollback returns to A.
func TestSlotsTryConfirmRollback(t *testing.T) {
	dir := shortTempDir(t)
	s := startStageIn(t, dir, slotOptions())
	st := s.mustCall(t, boot.OpStatus)
	require.NotNil(t, st.Slots)
	assert.Equal(t, boot.SlotA, st.Slots.Slot)
	assert.Equal(t, boot.SlotA, st.Slots.Current)
	assert.Empty(t, st.Slots.Trial)

	_, err := s.do(boot.Request{Op: boot.OpTry, Slot: boot.SlotB})
	require.ErrorIs(t, err, boot.ErrBadSlot, "slot B has no binary yet")
	_, err = s.do(boot.Request{Op: boot.OpTry, Slot: boot.SlotA})
	require.ErrorIs(t, err, boot.ErrBadSlot, "slot A is the confirmed one")
	_, err = s.do(boot.Request{Op: boot.OpTry, Slot: "C"})
	require.ErrorIs(t, err, boot.ErrBadSlot)
	_, err = s.do(boot.Request{Op: boot.OpConfirm, Slot: boot.SlotB})
	require.ErrorIs(t, err, boot.ErrNotOnTrial)

	installSlot(t, dir, boot.SlotB)
	first := st.ChildPID
	st, err = s.do(boot.Request{Op: boot.OpTry, Slot: boot.SlotB, ConfirmTimeout: time.Minute})
	require.NoError(t, err)
	assert.Equal(t, boot.StateRunning, st.State)
	assert.NotEqual(t, first, st.ChildPID, "the child was restarted into slot B")
	assert.Equal(t, boot.SlotB, st.Slots.Slot)
	assert.Equal(t, boot.SlotA, st.Slots.Current, "a trial is not confirmed")
	assert.Equal(t, boot.SlotB, st.Slots.Trial)
	assert.Equal(t, 0, st.Slots.TriesLeft, "its one try spent")
	assert.False(t, st.Slots.ConfirmBy.IsZero())
	waitStarts(t, dir, []string{"B_B_1"}, "slot B's binary ran, told it is on trial")

	st, err = s.do(boot.Request{Op: boot.OpConfirm, Slot: boot.SlotB})
	require.NoError(t, err)
	assert.Equal(t, boot.SlotB, st.Slots.Current)
	assert.Empty(t, st.Slots.Trial)
	_, err = s.do(boot.Request{Op: boot.OpConfirm, Slot: boot.SlotB})
	require.NoError(t, err, "a retried confirm succeeds")
	rec, err := boot.LoadRecord(dir)
	require.NoError(t, err)
	assert.Equal(t, boot.SlotB, rec.Current, "the record on disk says so")

	s.mustCall(t, boot.OpRestart)
	waitStarts(t, dir, []string{"B_B_1", "B_B_0"}, "a restart runs the confirmed slot B, not on trial")
	s.stop(t)
	s = startStageIn(t, dir, slotOptions())
	st = s.mustCall(t, boot.OpStatus)
	assert.Equal(t, boot.SlotB, st.Slots.Slot, "a new boot stage starts slot B")
	waitStarts(t, dir, []string{"B_B_1", "B_B_0", "B_B_0"}, "a new boot stage")

	st, err = s.do(boot.Request{Op: boot.OpRollback})
	require.NoError(t, err)
	assert.Equal(t, boot.SlotA, st.Slots.Slot)
	assert.Equal(t, boot.SlotA, st.Slots.Current)
	assert.Len(t, slotStarts(t, dir), 3, "slot A runs the stage's own program, not B's script")
}

// A trial whose program exits at start falls back to the confirmed slot
// by itself on the next start, and the record says why.
func TestSlotsTrialThatExitsFallsBack(t *testing.T) {
	dir := shortTempDir(t)
	s := startStageIn(t, dir, slotOptions())
	installSlot(t, dir, boot.SlotB, "exit=3")
	_, err := s.do(boot.Request{Op: boot.OpTry, Slot: boot.SlotB})
	require.NoError(t, err)
	var st boot.Status
	require.Eventually(t, func() bool {
		st = s.mustCall(t, boot.OpStatus)
		return st.State == boot.StateRunning && st.Slots.Slot == boot.SlotA
	}, 10*time.Second, 20*time.Millisecond, "back on slot A")
	assert.Equal(t, boot.SlotA, st.Slots.Current)
	assert.Empty(t, st.Slots.Trial)
	require.NotNil(t, st.Slots.Fallback)
	assert.Equal(t, boot.SlotB, st.Slots.Fallback.Slot)
	assert.Contains(t, st.Slots.Fallback.Reason, "started without confirming")
	assert.Contains(t, st.Slots.Fallback.Reason, "(it exited with code 3)", "the reason says how the trial ended")
	assert.Equal(t, []string{"B_B_1"}, slotStarts(t, dir), "B ran once, its one try")
	_, err = s.do(boot.Request{Op: boot.OpConfirm, Slot: boot.SlotB})
	require.ErrorIs(t, err, boot.ErrNotOnTrial, "an abandoned trial cannot be confirmed")
	rec, err := boot.LoadRecord(dir)
	require.NoError(t, err)
	require.NotNil(t, rec.Fallback)
	assert.Equal(t, boot.SlotA, rec.Current)
}

// A trial that runs but never confirms is stopped at its deadline and the
// confirmed slot started.
func TestSlotsTrialNotConfirmedFallsBack(t *testing.T) {
	dir := shortTempDir(t)
	s := startStageIn(t, dir, slotOptions())
	installSlot(t, dir, boot.SlotB)
	st, err := s.do(boot.Request{Op: boot.OpTry, Slot: boot.SlotB, Tries: 2, ConfirmTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	trialPID := st.ChildPID
	require.Eventually(t, func() bool {
		st = s.mustCall(t, boot.OpStatus)
		return st.State == boot.StateRunning && st.Slots.Slot == boot.SlotA
	}, 10*time.Second, 20*time.Millisecond, "back on slot A")
	assert.False(t, alive(trialPID), "the unconfirmed trial was stopped")
	require.NotNil(t, st.Slots.Fallback)
	assert.Contains(t, st.Slots.Fallback.Reason, "was not confirmed within 300ms")
	assert.Equal(t, []string{"B_B_1"}, slotStarts(t, dir), "not retried: the deadline abandons the trial")
	assert.Equal(t, 0, s.log.count("child backing off"), "a fallback is not a crash")
}

// A boot record that is not one does not keep the node down: it boots slot
// A and keeps the bad file.
func TestSlotsBadRecordBootsA(t *testing.T) {
	dir := shortTempDir(t)
	require.NoError(t, os.MkdirAll(filepath.Dir(boot.RecordPath(dir)), 0o700))
	require.NoError(t, os.WriteFile(boot.RecordPath(dir), []byte(`{"current":"Z"}`), 0o600))
	installSlot(t, dir, boot.SlotB)
	s := startStageIn(t, dir, slotOptions())
	st := s.mustCall(t, boot.OpStatus)
	assert.Equal(t, boot.SlotA, st.Slots.Slot)
	assert.FileExists(t, boot.RecordPath(dir)+".bad")
	assert.Equal(t, 1, s.log.count("boot record unreadable; booting slot A"))
}

// Without Options.Slots the slot requests are refused and the status has
// no slots.
func TestNoSlots(t *testing.T) {
	s := startStage(t, boot.Options{Command: childCommand()})
	st := s.mustCall(t, boot.OpStatus)
	assert.Nil(t, st.Slots)
	for _, op := range []boot.Op{boot.OpTry, boot.OpConfirm, boot.OpRollback} {
		_, err := s.do(boot.Request{Op: op, Slot: boot.SlotB})
		require.ErrorIs(t, err, boot.ErrNoSlots, "%s", op)
	}
}
