package bootcfg

import "errors"

var (
	// ErrNoSource is returned by FromEnv when neither CAIRN_CONFIG_DATA nor
	// CAIRN_CONFIG is set, and by Source.Read on the zero Source: the node
	// has no config and belongs in maintenance mode.
	ErrNoSource = errors.New("no cluster config source")
	// ErrBadArgument is returned for a cairn.* kernel argument or a source
	// that does not parse.
	ErrBadArgument = errors.New("bad boot argument")
)
