package controllers

import (
	"context"
	"time"

	"github.com/cairn-project/cairn/node/runtime"
)

// TypeClock is the date (ID "day"), for controllers that must act as
// time passes although none of their inputs changes: EtcdSpec renews its
// certificates two thirds through their life.
const TypeClock = "Clock"

// IDDay is the ID of the one Clock resource.
const IDDay = "day"

// ClockSpec is the spec of Clock/day.
type ClockSpec struct {
	// Date is today's date in UTC, 2006-01-02.
	Date string `json:"date"`
}

// DailyClock is a source that writes today's date (UTC) to Clock/day,
// checking every Every (an hour by default): the resource changes once a
// day, which wakes its readers once a day.
type DailyClock struct {
	Every time.Duration
	Now   func() time.Time
}

// Name implements runtime.Source.
func (c *DailyClock) Name() string { return "daily-clock" }

// Outputs implements runtime.Source.
func (c *DailyClock) Outputs() []string { return []string{TypeClock} }

// Run implements runtime.Source.
func (c *DailyClock) Run(ctx context.Context, w runtime.Writer) error {
	every, now := c.Every, c.Now
	if every == 0 {
		every = time.Hour
	}
	if now == nil {
		now = time.Now
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := w.Put(TypeClock, IDDay, ClockSpec{Date: now().UTC().Format(time.DateOnly)}, nil); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
