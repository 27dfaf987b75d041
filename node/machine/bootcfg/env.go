package bootcfg

import (
	"fmt"
	"os"
)

// Environment variables container mode reads (the Docker provisioner sets
// them).
const (
	// EnvConfigData holds the cluster config YAML itself.
	EnvConfigData = "CAIRN_CONFIG_DATA"
	// EnvConfig is the path of the cluster config file (a mounted file);
	// cairnd's --config defaults to it.
	EnvConfig = "CAIRN_CONFIG"
	// EnvNode is this node's name (--name's default).
	EnvNode = "CAIRN_NODE"
)

// FromEnv returns the cluster config named by the environment, with a
// description of where it came from: CAIRN_CONFIG_DATA wins over a path
// (path, normally --config, which defaults to CAIRN_CONFIG). With
// neither it returns ErrNoSource.
func FromEnv(getenv func(string) string, path string) ([]byte, string, error) {
	if data := getenv(EnvConfigData); data != "" {
		return []byte(data), "env " + EnvConfigData, nil
	}
	if path == "" {
		return nil, "", fmt.Errorf("%w: set %s, or %s or --config", ErrNoSource, EnvConfigData, EnvConfig)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("read cluster config: %w", err)
	}
	return data, path, nil
}
