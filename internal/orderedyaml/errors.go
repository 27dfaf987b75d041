package orderedyaml

import "errors"

var (
	// ErrSyntax is returned when the input is not a well-formed YAML (or,
	// for FromJSON, JSON) document, including mappings with duplicate keys.
	ErrSyntax = errors.New("not a well-formed YAML document")
	// ErrNotJSON is returned by ToJSON for a value JSON cannot hold, such
	// as .nan or .inf.
	ErrNotJSON = errors.New("value cannot be written as JSON")
)
