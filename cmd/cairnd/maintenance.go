package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cairn-project/cairn/node/machine/bootcfg"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/maintenance"
)

// Where container mode keeps the configuration maintenance mode took, in
// the state directory (the container's volume), so that a restarted
// container boots with it instead of waiting for it again. The file holds
// the cluster's secrets: it is the node's own, mode 0600, as the rest of
// the state directory is.
const (
	appliedConfigFile = "applied-config.yaml"
	appliedNodeFile   = "applied-node"
)

// maintenanceListener, when set, is served instead of
// maintenance.DefaultListen: tests only, on 127.0.0.1:0.
var maintenanceListener net.Listener

// clusterConfig returns the cluster config and this node's name: from
// --config, CAIRN_CONFIG or CAIRN_CONFIG_DATA (bootcfg.FromEnv), else, in
// container mode, the one maintenance mode took before (saved in
// stateDir), else maintenance mode's: the node serves only the
// maintenance API (node/maintenance) until `cairnctl apply-config
// --insecure` gives it a valid configuration with an entry for it, saves
// that, and boots with it. Other modes without a config fail (pid1 runs
// maintenance mode from its own main).
func clusterConfig(path, name, stateDir, mode string, log *slog.Logger) ([]byte, string, error) {
	data, _, err := bootcfg.FromEnv(os.Getenv, path)
	if err == nil || !errors.Is(err, bootcfg.ErrNoSource) || mode != capability.ModeContainer {
		return data, name, err
	}
	if data, saved, err := readApplied(stateDir); err == nil {
		log.Info("booting with the configuration applied in maintenance mode", "file", filepath.Join(stateDir, appliedConfigFile))
		return data, saved, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	data, name, err = maintenance.Serve(ctx, maintenance.Options{Listener: maintenanceListener, NodeName: name, Mode: mode, Logger: log})
	if err != nil {
		return nil, "", fmt.Errorf("maintenance mode: %w", err)
	}
	if err := writeApplied(stateDir, data, name); err != nil {
		// The node still boots; a restart would wait in maintenance again.
		log.Error("save the configuration applied in maintenance mode", "error", err)
	}
	return data, name, nil
}

func readApplied(dir string) ([]byte, string, error) {
	data, err := os.ReadFile(filepath.Join(dir, appliedConfigFile))
	if err != nil {
		return nil, "", err
	}
	name, err := os.ReadFile(filepath.Join(dir, appliedNodeFile))
	if err != nil {
		return nil, "", fmt.Errorf("read the node name applied in maintenance mode: %w", err)
	}
	return data, strings.TrimSpace(string(name)), nil
}

// writeApplied saves the document and name, the name first: a config
// without a name is never read back, so a crash between the two leaves
// maintenance mode to ask again.
func writeApplied(dir string, data []byte, name string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{appliedNodeFile, []byte(name + "\n")}, {appliedConfigFile, data}} {
		tmp := filepath.Join(dir, f.name+".tmp")
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			return err
		}
	}
	return nil
}
