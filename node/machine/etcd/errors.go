package etcd

import "errors"

// ErrInvalidMember is returned by Member.Args when the member cannot be
// started as described (no name, no token, an initial cluster without it,
// an extra argument replacing a flag Cairn owns).
var ErrInvalidMember = errors.New("invalid etcd member")
