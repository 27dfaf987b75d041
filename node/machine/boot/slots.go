package boot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The two boot slots. A node runs one; an upgrade installs into the other
// and tries it; only a confirmed trial becomes the slot boots start from.
const (
	SlotA = "A"
	SlotB = "B"
)

// Environment the boot stage gives a child started from a slot.
const (
	// EnvSlot is the slot the child was started from ("A" or "B").
	EnvSlot = "CAIRN_BOOT_SLOT"
	// EnvTrial is "1" when that slot is on trial: not confirmed yet, and
	// abandoned for the other if the child does not confirm it in time.
	EnvTrial = "CAIRN_BOOT_TRIAL"
	// EnvHome is the directory of the boot stage's own binary, set by
	// cairnd's boot stage: a process-mode node started from a slot
	// (STATE/slots/B/cairnd) finds what ships beside cairnd there (etcd,
	// the Kubernetes links), not beside its slot's binary. A bundle for
	// process mode is cairnd alone.
	EnvHome = "CAIRN_BOOT_HOME"
)

// Defaults of a trial (OpTry) that names none.
const (
	DefaultTries          = 1
	DefaultConfirmTimeout = 5 * time.Minute
)

// slotsName is the directory of the slots in the state directory; each
// slot is a directory of its own holding the node's binary.
const (
	slotsName  = "slots"
	recordName = "record.json"
	binaryName = "cairnd"
)

// OtherSlot is the slot that is not s.
func OtherSlot(s string) string {
	if s == SlotA {
		return SlotB
	}
	return SlotA
}

func validSlot(s string) bool { return s == SlotA || s == SlotB }

// SlotDir is slot s's directory in stateDir: where an upgrade writes the
// binary that slot runs (SlotBinary).
func SlotDir(stateDir, s string) string { return filepath.Join(stateDir, slotsName, s) }

// SlotBinary is the program of slot s. Slot A without one runs the boot
// stage's own command (the binary the node was created with); slot B
// without one cannot be tried.
func SlotBinary(stateDir, s string) string { return filepath.Join(SlotDir(stateDir, s), binaryName) }

// RecordPath is the boot record of stateDir.
func RecordPath(stateDir string) string {
	return filepath.Join(stateDir, slotsName, recordName)
}

// Record is the boot record: which slot a start runs. Only the boot stage
// writes it, before each start and on try, confirm and rollback, each
// write atomic (a crash leaves the old record or the new one).
type Record struct {
	// Current is the confirmed slot: what a start runs when no trial is
	// pending.
	Current string `json:"current"`
	// Trial is a slot installed and being tried, "" for none. While set,
	// each start runs it and spends one of TriesLeft; a start with none
	// left falls back to Current.
	Trial     string `json:"trial,omitempty"`
	TriesLeft int    `json:"triesLeft,omitempty"`
	// ConfirmTimeout is how long a child started from Trial has to
	// confirm it before the boot stage stops it and falls back.
	ConfirmTimeout time.Duration `json:"confirmTimeout,omitempty"`
	// Booted is the slot the last start ran.
	Booted string `json:"booted,omitempty"`
	// Fallback is the last trial abandoned, and why; it stays until the
	// next trial, so an upgrade's coordinator reads why a node is on its
	// old slot.
	Fallback *Fallback `json:"fallback,omitempty"`
}

// Fallback is a trial that did not confirm.
type Fallback struct {
	Slot   string    `json:"slot"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// LoadRecord reads stateDir's boot record; a node that never had one
// boots slot A.
func LoadRecord(stateDir string) (Record, error) {
	b, err := os.ReadFile(RecordPath(stateDir))
	if errors.Is(err, fs.ErrNotExist) {
		return Record{Current: SlotA}, nil
	}
	if err != nil {
		return Record{}, fmt.Errorf("read boot record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("%w: %s: %w", ErrBadRecord, RecordPath(stateDir), err)
	}
	if !validSlot(r.Current) || (r.Trial != "" && !validSlot(r.Trial)) {
		return Record{}, fmt.Errorf("%w: %s: slots %q and %q", ErrBadRecord, RecordPath(stateDir), r.Current, r.Trial)
	}
	return r, nil
}

// saveRecord writes r atomically: a temporary file, synced, renamed over
// the record, and the directory synced.
func saveRecord(stateDir string, r Record) error {
	dir := filepath.Dir(RecordPath(stateDir))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create slots directory: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, recordName+".*")
	if err != nil {
		return fmt.Errorf("write boot record: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write boot record: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("sync boot record: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write boot record: %w", err)
	}
	if err := os.Rename(tmp.Name(), RecordPath(stateDir)); err != nil {
		return fmt.Errorf("replace boot record: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync slots directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync slots directory: %w", err)
	}
	return nil
}

// choose is the slot the next start runs and the record to save first:
// the trial while it has tries left (spending one), else Current, with
// the trial abandoned as a Fallback once its tries are spent.
func (r Record) choose(now time.Time) (string, Record) {
	if r.Trial != "" {
		if r.TriesLeft > 0 {
			r.TriesLeft--
			r.Booted = r.Trial
			return r.Trial, r
		}
		r = r.fallBack(fmt.Sprintf("slot %s started without confirming it", r.Trial), now)
	}
	r.Booted = r.Current
	return r.Current, r
}

// fallBack abandons the trial for Current.
func (r Record) fallBack(reason string, now time.Time) Record {
	r.Fallback = &Fallback{Slot: r.Trial, Reason: reason, At: now.UTC()}
	r.Trial, r.TriesLeft, r.ConfirmTimeout = "", 0, 0
	return r
}

// SlotStatus is the slots part of a boot stage's Status.
type SlotStatus struct {
	// Slot is the slot the running (or last) child was started from.
	Slot string `json:"slot"`
	// Current is the confirmed slot.
	Current string `json:"current"`
	// Trial is the slot on trial, "" for none; TriesLeft its remaining
	// starts, ConfirmBy when the running trial must be confirmed.
	Trial     string    `json:"trial,omitempty"`
	TriesLeft int       `json:"triesLeft,omitempty"`
	ConfirmBy time.Time `json:"confirmBy,omitzero"`
	// Fallback is the last trial abandoned.
	Fallback *Fallback `json:"fallback,omitempty"`
}

func (r Record) status(confirmBy time.Time) *SlotStatus {
	return &SlotStatus{Slot: r.Booted, Current: r.Current, Trial: r.Trial, TriesLeft: r.TriesLeft, ConfirmBy: confirmBy, Fallback: r.Fallback}
}
