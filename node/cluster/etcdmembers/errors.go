package etcdmembers

import "errors"

var (
	// ErrNoRecord is returned by Get while no EtcdMembership record exists:
	// etcd bootstrap is not decided yet, or the leader that decided it has
	// not written the membership record yet.
	ErrNoRecord = errors.New("etcd membership record not written yet")

	// ErrNoEndpoint is returned by a pass when no member of the record has a
	// client URL to dial.
	ErrNoEndpoint = errors.New("no etcd member with a client URL to dial")

	// errWait ends a pass that must wait for etcd (not a failure): the
	// pending change stays recorded and a later pass sends it again.
	errWait = errors.New("waiting for etcd")
)
