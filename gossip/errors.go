package gossip

import "errors"

// Sentinel errors returned by this package. They are always wrapped with
// context, so callers must check them with errors.Is, never with ==.
var (
	// ErrInvalidConfig is returned by New and Config.Validate when a Config
	// is incomplete or inconsistent (no name, no cluster ID, a non-positive
	// interval, …). Every problem found is reported, joined.
	ErrInvalidConfig = errors.New("invalid gossip config")

	// ErrInvalidKey is returned by New and InstallKey when a gossip key is
	// not exactly KeySize bytes long.
	ErrInvalidKey = errors.New("invalid gossip key")

	// ErrUnknownKey is returned by UseKey and RemoveKey when the key is not
	// installed in this node's keyring.
	ErrUnknownKey = errors.New("gossip key not installed")

	// ErrPrimaryKey is returned by RemoveKey when asked to remove the key
	// this node currently encrypts with; switch the primary with UseKey first.
	ErrPrimaryKey = errors.New("cannot remove the primary gossip key")

	// ErrInvalidMeta is returned by EncodeMeta, DecodeMeta, New and
	// UpdateMeta when node metadata has an unknown role or format version,
	// or is truncated.
	ErrInvalidMeta = errors.New("invalid node metadata")

	// ErrMetaTooLarge is returned by EncodeMeta, New and UpdateMeta when the
	// encoded metadata exceeds MetaMaxSize bytes, memberlist's hard limit.
	ErrMetaTooLarge = errors.New("node metadata too large")

	// ErrJoinFailed is returned by Join when ctx ends before any seed
	// accepted this node. It wraps ctx.Err() and the last attempt's error
	// too, so errors.Is also matches context.DeadlineExceeded or
	// context.Canceled, and ErrKeyMismatch when that was the cause.
	ErrJoinFailed = errors.New("gossip join failed")

	// ErrKeyMismatch is wrapped into Join's errors when a seed answered but
	// the exchange could not be decrypted: this node's key is not one the
	// seed holds. Join keeps retrying (the seed may be mid-rotation). It is
	// recognized from memberlist's error text, which has no typed error.
	// A seed of another cluster ID gives no such clue: it drops the stream
	// unanswered, which looks like a seed that is down.
	ErrKeyMismatch = errors.New("gossip key rejected by seed")

	// ErrNameConflict is returned by Join when a live member at another
	// address already holds this node's name. The node is shut down (without
	// a leave message, which would evict the rightful owner) and every later
	// call returns ErrNameConflict as well. Leave also returns it.
	ErrNameConflict = errors.New("gossip name held by another node")

	// ErrClosed is returned by Join, Leave and UpdateMeta after Close.
	ErrClosed = errors.New("gossip node closed")
)
