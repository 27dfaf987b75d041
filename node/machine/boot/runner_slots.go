package boot

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// loadRecord reads the boot record for the runner. A record that cannot
// be read as one must not keep the node down: it is kept beside as
// record.json.bad and the node boots slot A, saying so.
func (r *runner) loadRecord() error {
	rec, err := LoadRecord(r.opts.StateDir)
	if errors.Is(err, ErrBadRecord) {
		bad := RecordPath(r.opts.StateDir) + ".bad"
		r.log.Error("boot record unreadable; booting slot A", "err", err, "kept", bad)
		if rerr := os.Rename(RecordPath(r.opts.StateDir), bad); rerr != nil {
			return fmt.Errorf("set aside bad boot record: %w", rerr)
		}
		rec, err = Record{Current: SlotA}, nil
	}
	if err != nil {
		return err
	}
	r.rec = rec
	r.publishSlots()
	return nil
}

// fromSlot points cmd at the slot the boot record chooses, saving the
// record (a spent try, an abandoned trial) before the child starts, so a
// crash of the whole machine mid-start still counts the try.
func (r *runner) fromSlot(cmd *exec.Cmd) error {
	slot, rec := r.rec.choose(r.opts.Now())
	bin := SlotBinary(r.opts.StateDir, slot)
	// A try checks for the binary; one removed since must not keep the
	// node down: its trial is abandoned, and a confirmed slot B without
	// one gives way to slot A, which always has the node's own program.
	for slot != SlotA && !hasBinary(bin) {
		reason := fmt.Sprintf("slot %s has no binary %s", slot, bin)
		if rec.Trial == slot {
			rec = rec.fallBack(reason, r.opts.Now())
		} else {
			rec.Current, rec.Fallback = SlotA, &Fallback{Slot: slot, Reason: reason, At: r.opts.Now().UTC()}
		}
		slot, rec = rec.choose(r.opts.Now())
		bin = SlotBinary(r.opts.StateDir, slot)
	}
	if rec.Fallback != nil && (r.rec.Fallback == nil || *rec.Fallback != *r.rec.Fallback) {
		if last := r.status().LastExit; last != "" && r.rec.Trial != "" && r.rec.Booted == r.rec.Trial {
			// The trial ran and ended: say how (an upgrade's plan shows it).
			rec.Fallback.Reason += " (it " + last + ")"
		}
		r.log.Warn("falling back to the confirmed slot", "slot", slot, "abandoned", rec.Fallback.Slot, "reason", rec.Fallback.Reason)
	}
	if err := saveRecord(r.opts.StateDir, rec); err != nil {
		return err
	}
	r.rec = rec
	r.confirmBy = time.Time{}
	trial := rec.Trial != "" && slot == rec.Trial
	if trial {
		r.confirmBy = r.opts.Now().Add(rec.ConfirmTimeout)
	}
	if hasBinary(bin) {
		cmd.Path, cmd.Err = bin, nil
		if len(cmd.Args) > 0 {
			cmd.Args[0] = bin
		}
	}
	t := "0"
	if trial {
		t = "1"
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, EnvSlot+"="+slot, EnvTrial+"="+t)
	r.publishSlots()
	return nil
}

func hasBinary(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// abandonTrial falls back from the running trial (not confirmed in time).
func (r *runner) abandonTrial(reason string) {
	rec := r.rec.fallBack(reason, r.opts.Now())
	if err := saveRecord(r.opts.StateDir, rec); err != nil {
		// The next start spends the last try and falls back anyway.
		r.log.Error("save boot record", "err", err)
	}
	r.rec, r.confirmBy = rec, time.Time{}
	r.publishSlots()
}

// confirm makes the running trial slot the confirmed one.
func (r *runner) confirm(slot string) error {
	if !r.opts.Slots {
		return ErrNoSlots
	}
	if slot == r.rec.Current && r.rec.Trial == "" {
		return nil // already confirmed: a retried confirm
	}
	if slot == "" || slot != r.rec.Trial || r.confirmBy.IsZero() || r.rec.Booted != slot {
		return fmt.Errorf("%w: slot %q (current %s, trial %q, running %s)", ErrNotOnTrial, slot, r.rec.Current, r.rec.Trial, r.rec.Booted)
	}
	rec := r.rec
	rec.Current, rec.Trial, rec.TriesLeft, rec.ConfirmTimeout = slot, "", 0, 0
	if err := saveRecord(r.opts.StateDir, rec); err != nil {
		return err
	}
	r.rec, r.confirmBy = rec, time.Time{}
	r.log.Info("slot confirmed", "slot", slot)
	r.publishSlots()
	return nil
}

// switchSlot records a try or a rollback; the caller then (re)starts the
// child, which runs the slot the record now chooses.
func (r *runner) switchSlot(req Request) error {
	if !r.opts.Slots {
		return ErrNoSlots
	}
	rec := r.rec
	switch req.Op {
	case OpTry:
		if !validSlot(req.Slot) {
			return fmt.Errorf("%w: %q is neither A nor B", ErrBadSlot, req.Slot)
		}
		if req.Slot == r.rec.Current {
			return fmt.Errorf("%w: slot %s is the confirmed slot; install into slot %s", ErrBadSlot, req.Slot, OtherSlot(req.Slot))
		}
		if bin := SlotBinary(r.opts.StateDir, req.Slot); !hasBinary(bin) {
			return fmt.Errorf("%w: slot %s has no executable %s", ErrBadSlot, req.Slot, bin)
		}
		rec.Trial, rec.TriesLeft, rec.ConfirmTimeout = req.Slot, req.Tries, req.ConfirmTimeout
		if rec.TriesLeft <= 0 {
			rec.TriesLeft = DefaultTries
		}
		if rec.ConfirmTimeout <= 0 {
			rec.ConfirmTimeout = DefaultConfirmTimeout
		}
		rec.Fallback = nil
	case OpRollback:
		other := OtherSlot(rec.Current)
		if other != SlotA && !hasBinary(SlotBinary(r.opts.StateDir, other)) {
			return fmt.Errorf("%w: slot %s has no binary to roll back to", ErrBadSlot, other)
		}
		rec.Current, rec.Trial, rec.TriesLeft, rec.ConfirmTimeout = other, "", 0, 0
	}
	if err := saveRecord(r.opts.StateDir, rec); err != nil {
		return err
	}
	r.log.Info("boot record changed", "op", req.Op, "current", rec.Current, "trial", rec.Trial, "tries", rec.TriesLeft)
	r.rec = rec
	r.publishSlots()
	return nil
}

func (r *runner) publishSlots() {
	st := r.rec.status(r.confirmBy)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.slots = st
}
