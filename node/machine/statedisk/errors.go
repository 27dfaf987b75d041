package statedisk

import "errors"

var (
	// ErrNoDisk is returned when no disk matches the config's stateDisk
	// selector (or its path is not a whole disk).
	ErrNoDisk = errors.New("no state disk")
	// ErrRefused is returned by Prepare for a disk that holds data that is
	// not this cluster's state: another cluster's marker, a foreign
	// partition table or filesystem, or unrecognized bytes. Such a disk is
	// never written; Status.Reason says what was found.
	ErrRefused = errors.New("state disk refused")
	// ErrNoGPT is returned by ReadGPT when the disk has no valid GPT.
	ErrNoGPT = errors.New("no GPT")
	// ErrTooSmall is returned by WriteGPT for a disk too small for a
	// partition.
	ErrTooSmall = errors.New("disk too small")
	// ErrNoSaved is returned by LoadSaved when no disk holds a cairn-state
	// partition with a saved config.
	ErrNoSaved = errors.New("no saved config on any disk")
)
