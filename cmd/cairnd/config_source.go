package main

import (
	"errors"
	"fmt"
	"os"
)

// configDataEnv holds the cluster config document itself, for containers:
// the docker provisioner passes it in the environment, so that a read-only
// image needs no file mounted (container mode, issue 11's boot config).
const configDataEnv = "CAIRN_CONFIG_DATA"

// readConfig returns the cluster config: the file --config (or
// CAIRN_CONFIG) names, else the document in CAIRN_CONFIG_DATA.
func readConfig(path string) ([]byte, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read cluster config: %w", err)
		}
		return data, nil
	}
	if doc := os.Getenv(configDataEnv); doc != "" {
		return []byte(doc), nil
	}
	return nil, errors.New("--config is required (or the document itself in " + configDataEnv + ")")
}
