package etcd

import "errors"

// ErrInvalidMember is returned by Member.Args when the member cannot be
// started as described (no name, no token, an initial cluster without it,
// an extra argument replacing a flag Cairn owns).
var ErrInvalidMember = errors.New("invalid etcd member")

// Errors of Ops (ops.go, ops_members.go).
var (
	// ErrNoMember is returned by every Ops method while this node runs no
	// etcd member it can reach: a worker, or a control plane whose member
	// has not started yet (Ops.Use not called, or called with a nil TLS
	// configuration).
	ErrNoMember = errors.New("this node runs no etcd member")
	// ErrQuorum is returned by Leave and RemoveMember when removing the
	// member would leave fewer healthy voters than a majority of the
	// voters that remain.
	ErrQuorum = errors.New("removing the member would break etcd quorum")
	// ErrLastMember is returned by Leave and RemoveMember for the only
	// voting member of the cluster: removing it would end the cluster.
	ErrLastMember = errors.New("the last voting etcd member cannot be removed")
	// ErrRemoveSelf is returned by RemoveMember when asked to remove this
	// node's own member; Leave does that.
	ErrRemoveSelf = errors.New("this node's own member is removed with leave, not remove-member")
	// ErrUnknownMember is returned by RemoveMember for an ID the cluster
	// does not list.
	ErrUnknownMember = errors.New("no etcd member with this ID")
	// ErrNoTransferee is returned by ForfeitLeadership when this member
	// leads and no other healthy voter can take over.
	ErrNoTransferee = errors.New("no other healthy voting member to hand etcd leadership to")
)
