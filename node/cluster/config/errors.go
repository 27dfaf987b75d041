package config

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalid is returned (wrapped in a *ValidationError) by Parse and
	// Validate when the document breaks a rule. Every more specific parse
	// sentinel below also matches ErrInvalid with errors.Is.
	ErrInvalid = errors.New("invalid cluster config")

	// ErrSyntax is returned by Parse when the document is not well-formed
	// YAML, has a duplicate key, or holds a value of the wrong type (a number
	// where a string is expected, for example).
	ErrSyntax = fmt.Errorf("%w: malformed document", ErrInvalid)

	// ErrUnknownField is returned by Parse when the document contains a field
	// that the schema does not define, including a field whose name differs
	// from a known one only by letter case.
	ErrUnknownField = fmt.Errorf("%w: unknown field", ErrInvalid)

	// ErrUnsupportedVersion is returned by Parse when apiVersion or kind is not
	// APIVersion / Kind, so that a document for another schema version is
	// never half-understood.
	ErrUnsupportedVersion = fmt.Errorf("%w: unsupported apiVersion or kind", ErrInvalid)

	// ErrEmptyDocument is returned by CheckDocument for a document that is
	// empty or holds only white space.
	ErrEmptyDocument = fmt.Errorf("%w: the document is empty", ErrInvalid)

	// ErrNotText is returned by CheckDocument for a document that is not
	// UTF-8 text (a binary file, or text in another encoding).
	ErrNotText = fmt.Errorf("%w: not a YAML document: not UTF-8 text", ErrInvalid)

	// ErrTooLarge is returned by CheckDocument for a document larger than
	// MaxDocumentBytes. It is not an ErrInvalid: the document may be fine,
	// only too big to accept.
	ErrTooLarge = errors.New("configuration document too large")

	// ErrNoMatch is returned by NodeFor when no node entry matches the
	// machine's name, MAC addresses or hostname.
	ErrNoMatch = errors.New("no node entry matches this machine")

	// ErrAmbiguousMatch is returned by NodeFor when more than one node entry
	// matches at the same match stage.
	ErrAmbiguousMatch = errors.New("more than one node entry matches this machine")

	// ErrBadCA is returned by GenerateAdminClientCert and ParseCA when the CA
	// certificate or key is missing, does not parse, is not a CA, or the key
	// does not belong to the certificate.
	ErrBadCA = errors.New("bad certificate authority")

	// ErrBadOptions is returned by Generate and GenerateAdminClientCert when
	// their options are out of range (no control-plane nodes, too many nodes
	// for the loopback plan, non-positive validity, …).
	ErrBadOptions = errors.New("bad options")
)
