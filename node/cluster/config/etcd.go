package config

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
)

// EtcdSettingsHash names one set of cluster.etcd.extraArgs, in 12 hex
// digits: what the Raft leader grants each control plane in turn when the
// etcd section changes, and what a node reports once its member runs with
// it (an empty set has a hash too).
func EtcdSettingsHash(extraArgs map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(extraArgs)) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(extraArgs[k]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
