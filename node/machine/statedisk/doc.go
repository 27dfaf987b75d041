// Package statedisk prepares a pid1 node's state disk: it finds the disk
// the config's stateDisk names (by path, or serial, model and size read
// from sysfs: there is no udev), partitions a blank one (a GPT written
// here, one partition named cairn-state), formats it with mkfs.ext4,
// mounts it at /var and marks it with the cluster's ID. A disk with
// anything else on it is never written. Prepare is the entry point;
// LoadSaved finds a saved config on a boot with no config source; Wipe
// frees a refused disk for reset. See DESIGN.md.
package statedisk
