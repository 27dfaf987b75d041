package controllers

import (
	"context"

	"github.com/cairn-project/cairn/node/runtime"
)

// ReapObserver is what ReaperStatus needs from PID 1's orphan reaper
// (pid1.Reaper).
type ReapObserver interface {
	Reaped() uint64
	Changed() <-chan struct{}
}

// ReaperStatusSpec is the spec of ReaperStatus/machine.
type ReaperStatusSpec struct {
	// Reaped counts the orphans reaped since boot: processes reparented to
	// PID 1 whose parents died without waiting for them. The supervisor's
	// own children are never among them (it collects their exits itself).
	Reaped uint64 `json:"reaped"`
}

// ReaperStatus is the source of ReaperStatus/machine: it republishes the
// reaper's count after every change the reaper signals. It only observes.
type ReaperStatus struct {
	Reaper ReapObserver
}

// Name implements runtime.Source.
func (s *ReaperStatus) Name() string { return "reaper-status" }

// Outputs implements runtime.Source.
func (s *ReaperStatus) Outputs() []string { return []string{TypeReaperStatus} }

// Run implements runtime.Source.
func (s *ReaperStatus) Run(ctx context.Context, w runtime.Writer) error {
	for {
		changed := s.Reaper.Changed() // before the read: no change is missed
		if err := w.Put(TypeReaperStatus, IDMachine, ReaperStatusSpec{Reaped: s.Reaper.Reaped()}, nil); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}
