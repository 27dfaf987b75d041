package main

import (
	"os"

	"github.com/cairn-project/cairn/node/machine/bootcfg"
)

// readConfig returns the cluster config: the document in CAIRN_CONFIG_DATA
// (the docker provisioner passes it so, and a read-only image needs no
// file mounted), else the file --config (or CAIRN_CONFIG) names.
func readConfig(path string) ([]byte, error) {
	data, _, err := bootcfg.FromEnv(os.Getenv, path)
	return data, err
}
