package maintenance

import "errors"

var (
	// ErrAlreadyConfigured is returned by ApplyConfig once another call
	// was accepted: the machine is leaving maintenance mode with that
	// configuration.
	ErrAlreadyConfigured = errors.New("this machine already took a configuration and is booting")
)
