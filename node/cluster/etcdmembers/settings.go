package etcdmembers

import (
	"context"
	"fmt"
	"slices"
)

// rollSettings grants the etcd settings the stored config asks for to one
// more member, when the membership is settled: no learner, every voter
// healthy, and every member granted them already runs them (its node says
// so once its restarted member is healthy). Members go by name, this
// leader's last; one grant per pass, so at most one member restarts at a
// time, each after the previous is back (issue 12: "applied one control
// plane at a time, each waiting for the previous to be healthy").
func (c *Coordinator) rollSettings(ctx context.Context, r *round, h health) error {
	want := r.settings
	if want == "" || !r.viewOK {
		return nil
	}
	var next *Member
	for i := range r.rec.Members {
		m := &r.rec.Members[i]
		if m.Learner || m.ID == 0 {
			return nil // a membership change is under way
		}
		if _, ok := h.status[m.ID]; !ok {
			return nil // an unhealthy voter: restart nobody now
		}
		if m.Settings == want {
			if r.view[m.Name].EtcdSettings != want {
				return nil // granted, not running them (yet): wait for it
			}
			continue
		}
		self := m.Name == c.cfg.Self.Name
		if next == nil || (next.Name == c.cfg.Self.Name && !self) {
			next = m
		}
	}
	if next == nil {
		return nil
	}
	rec := r.rec
	rec.Members = slices.Clone(r.rec.Members)
	for i := range rec.Members {
		if rec.Members[i].ID == next.ID {
			rec.Members[i].Settings = want
		}
	}
	updated, err := update(ctx, c.cfg.Store, rec, "")
	if err != nil {
		return fmt.Errorf("grant etcd settings %s to %s: %w", want, next.Name, err)
	}
	r.rec = updated
	c.log.Info("etcd settings granted", "member", next.Name, "settings", want, "was", next.Settings)
	return nil
}
