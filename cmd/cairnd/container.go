package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cairn-project/cairn/node"
	"github.com/cairn-project/cairn/node/machine/bootcfg"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/pid1"
)

// processConfig reads --config, which process mode requires.
func processConfig(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("--config is required")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cluster config: %w", err)
	}
	return data, nil
}

// containerConfig reads container mode's config: CAIRN_CONFIG_DATA, else
// --config (CAIRN_CONFIG); with neither, maintenance mode waits for one.
func containerConfig(log *slog.Logger, path, name string) ([]byte, string, error) {
	data, source, err := bootcfg.FromEnv(os.Getenv, path)
	if err == nil {
		log.Info("cluster config", "source", source)
		return data, name, nil
	}
	if !errors.Is(err, bootcfg.ErrNoSource) {
		return nil, "", err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return runMaintenance(ctx, log, capability.ModeContainer, name)
}

// containerOptions is what container mode adds to the node: the API on
// every address (a published port reaches the container's own address,
// which the config may not name), and, as the container's PID 1, the
// orphan reaper.
func containerOptions(ctx context.Context, o *node.Options) {
	o.ListenAll = true
	if os.Getpid() == 1 {
		r := pid1.NewReaper(o.Logger.With("component", "reaper"))
		go func() { _ = r.Run(ctx) }()
		o.Reaper = r
	}
}
