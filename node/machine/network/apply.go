package network

import (
	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// maxPasses bounds how often Apply re-observes after its own changes. A
// second pass is needed only when the kernel undid part of the first as a
// side effect (setting a link down flushes its routes and IPv6 addresses);
// a third pass finding work means something else is fighting Cairn, and the
// caller's next reconcile handles it.
const maxPasses = 3

// Apply converges the kernel behind h from prev to next and returns the
// changes it made, in order.
//
// prev is the spec the caller applied last (use Retain to compute it) and
// next the one it wants now; together they say what Cairn owns. Apply sets
// the state and MTU of next's links, adds next's addresses, replaces next's
// routes, and removes the addresses and routes that prev had and next
// dropped. Nothing that neither lists is touched, so addresses and routes
// added by someone else survive.
//
// Applying the same spec again changes nothing. "Already exists" and "not
// found" answers count as success. A failing operation does not stop the
// others: every failure is returned, joined with errors.Join; a link that
// does not exist matches ErrLinkNotFound. Cancelling ctx stops Apply between
// operations.
func Apply(ctx context.Context, h *netlink.Handle, prev, next Desired) (Changes, error) {
	changes, _, err := converge(ctx, h, prev, next)
	return changes, err
}

// converge is Apply, also returning how many passes made changes. The tests
// require one: the step order in diff must anticipate the kernel's side
// effects for every transition they cover, and the extra passes stay a
// safety net rather than a crutch.
func converge(ctx context.Context, h *netlink.Handle, prev, next Desired) (done Changes, rounds int, err error) {
	if h == nil {
		return nil, 0, ErrNoHandle
	}
	for range maxPasses {
		obs, err := Observe(h)
		if err != nil {
			return done, rounds, fmt.Errorf("observe: %w", err)
		}
		steps, planErr := diff(obs, prev, next)
		made, runErr := run(ctx, h, steps)
		done = append(done, made...)
		if len(made) > 0 {
			rounds++
		}
		if err := errors.Join(planErr, runErr); err != nil {
			return done, rounds, err
		}
		if len(made) == 0 {
			break
		}
	}
	return done, rounds, nil
}

// Plan returns the changes Apply(ctx, h, prev, next) would make, without
// making them: it observes, diffs and reports. It cannot foresee the kernel's
// own side effects, so Apply may make a few more (see maxPasses). The error
// reports what Apply would fail on before touching the kernel, such as
// missing links.
func Plan(ctx context.Context, h *netlink.Handle, prev, next Desired) (Changes, error) {
	if h == nil {
		return nil, ErrNoHandle
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	obs, err := Observe(h)
	if err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	steps, planErr := diff(obs, prev, next)
	var out Changes
	for _, s := range steps {
		out = append(out, s.change)
	}
	return out, planErr
}

// run executes steps in order, going past failures, and returns the changes
// that took effect and the failures joined.
func run(ctx context.Context, h *netlink.Handle, steps []step) (Changes, error) {
	var made Changes
	var errs []error
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("apply: %d of %d changes not made: %w", len(steps)-i, len(steps), err))
			break
		}
		err := s.do(h)
		switch {
		case err == nil:
			made = append(made, s.change)
		case errors.Is(err, errNothingToDo):
		default:
			errs = append(errs, err)
		}
	}
	return made, errors.Join(errs...)
}
