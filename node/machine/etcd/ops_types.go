package etcd

// MemberInfo is one member as the cluster lists it (etcd's MemberList).
type MemberInfo struct {
	ID uint64
	// Name is empty for a member added but not started yet.
	Name       string
	PeerURLs   []string
	ClientURLs []string
	Learner    bool
}

// MemberStatus is one member's own report (etcd's Status call), with the
// alarms raised on it.
type MemberStatus struct {
	MemberID, ClusterID uint64
	Name                string
	Learner             bool
	// LeaderID is the member this one follows; 0 while it knows no leader.
	LeaderID uint64
	// RaftTerm, RaftIndex and RaftAppliedIndex are the member's Raft term,
	// last log index and last applied index.
	RaftTerm, RaftIndex, RaftAppliedIndex uint64
	// Revision is the key-value store's revision.
	Revision int64
	// DBSize is the backend file's size, DBSizeInUse the part of it in
	// use (what a defragmentation shrinks the file to), DBSizeQuota the
	// size at which the member raises the NOSPACE alarm.
	DBSize, DBSizeInUse, DBSizeQuota int64
	Version                          string
	Alarms                           []Alarm
	// Errors are the member's own complaints (a corrupt database, no
	// leader), as etcd reports them.
	Errors []string
}

// AlarmType is the kind of an etcd alarm.
type AlarmType string

// The alarms etcd raises.
const (
	// AlarmNoSpace: the database reached its quota; the cluster accepts
	// only reads and deletes until space is freed (compact, defragment)
	// and the alarm is disarmed.
	AlarmNoSpace AlarmType = "NOSPACE"
	// AlarmCorrupt: a member's data does not match the others'.
	AlarmCorrupt AlarmType = "CORRUPT"
)

// Alarm is one alarm raised on one member.
type Alarm struct {
	MemberID uint64
	Type     AlarmType
}

// SnapshotInfo describes a snapshot Ops.Snapshot wrote.
type SnapshotInfo struct {
	// Size is the number of bytes written, etcd's trailing SHA-256
	// included.
	Size int64
	// Revision is the store's revision the snapshot holds: read as the
	// snapshot starts, so writes racing with its start can make it higher
	// than the snapshot's last write (never lower).
	Revision int64
	// Version is the etcd version that took it (the one to restore with).
	Version string
}

// DefragmentResult is a member's database size before and after a
// defragmentation.
type DefragmentResult struct {
	SizeBefore, SizeAfter int64
}

// ForfeitResult is what ForfeitLeadership did.
type ForfeitResult struct {
	// Moved reports whether this member led and handed leadership on.
	Moved bool
	// LeaderID and LeaderName are the leader afterwards: the new one when
	// Moved, else the one this member follows (0 and empty if none).
	LeaderID   uint64
	LeaderName string
}
