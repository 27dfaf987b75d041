package controllers

// The etcd resource types (ID "etcd" each).
const (
	// TypeEtcdCluster is this control plane's copy of the cluster's etcd
	// decisions, mirrored from Raft: the bootstrap record (who starts as a
	// new cluster, with which token) and the membership record (the
	// members the Raft leader added, removed and promoted).
	TypeEtcdCluster = "EtcdCluster"
	// TypeEtcdService is the etcd service this node wants run, merged into
	// ServiceSpec by ServiceSpecs.
	TypeEtcdService = "EtcdService"
	// TypeEtcdPhase is where this node's etcd member is on its way to
	// running: waiting for a decision, starting, joining, refused.
	TypeEtcdPhase = "EtcdPhase"
	// TypeEtcdObserved is what the local etcd member answers now.
	TypeEtcdObserved = "EtcdObserved"
	// TypeEtcdStatus sums up this node's etcd member for operators, gossip
	// health and the cluster health check.
	TypeEtcdStatus = "EtcdStatus"

	IDEtcd = "etcd"
)

// EtcdPeer is an initial member named by the bootstrap record.
type EtcdPeer struct {
	Name    string `json:"name"`
	StateID string `json:"stateID,omitempty"`
	PeerURL string `json:"peerURL"`
}

// EtcdMember is a member of the membership record.
type EtcdMember struct {
	Name    string `json:"name"`
	StateID string `json:"stateID,omitempty"`
	ID      uint64 `json:"id,omitempty"`
	PeerURL string `json:"peerURL"`
	Learner bool   `json:"learner,omitempty"`
	// Settings are the etcd settings the leader lets this member run.
	Settings string `json:"settings,omitempty"`
}

// EtcdClusterSpec is the spec of EtcdCluster/etcd.
type EtcdClusterSpec struct {
	// Decided is false until the Raft leader stored the bootstrap record.
	Decided    bool   `json:"decided"`
	Generation uint64 `json:"generation,omitempty"`
	// Token is the etcd cluster token; not a credential (the etcd CA is),
	// but not shown either.
	Token          string     `json:"-"`
	TokenHash      string     `json:"tokenHash,omitempty"`
	InitialMembers []EtcdPeer `json:"initialMembers,omitempty"`
	// PreviousTokenHashes are the hashes of earlier generations' tokens:
	// data of an earlier generation is this cluster's, set aside when a
	// recovery replaced it.
	PreviousTokenHashes []string `json:"previousTokenHashes,omitempty"`
	// RestoreNode and RestoreSHA256 name the snapshot the initial member
	// of a recovered generation restores first.
	RestoreNode   string `json:"restoreNode,omitempty"`
	RestoreSHA256 string `json:"restoreSHA256,omitempty"`
	// MembershipGeneration is the generation the membership record
	// describes; Members count only when it equals Generation.
	MembershipGeneration uint64       `json:"membershipGeneration,omitempty"`
	ClusterID            uint64       `json:"clusterID,omitempty"`
	Members              []EtcdMember `json:"members,omitempty"`
}

// Etcd phases (EtcdPhaseSpec.Phase).
const (
	EtcdPhaseWaitingDecision = "waiting-for-bootstrap-decision"
	EtcdPhaseWaitingAdd      = "waiting-to-be-added"
	EtcdPhaseBootstrapping   = "bootstrapping"
	EtcdPhaseJoining         = "joining"
	EtcdPhaseMember          = "member"
	EtcdPhaseRefused         = "refused"
	EtcdPhaseUnavailable     = "unavailable"
)

// EtcdPhaseSpec is the spec of EtcdPhase/etcd.
type EtcdPhaseSpec struct {
	Phase  string `json:"phase"`
	Reason string `json:"reason,omitempty"`
	// Generation is the bootstrap generation the member runs for.
	Generation uint64 `json:"generation,omitempty"`
	// Revision is the cluster config revision of the pass that decided
	// this phase: ConfigStatus counts a revision applied only once etcd
	// follows it (its settings included).
	Revision  uint64 `json:"revision,omitempty"`
	ClientURL string `json:"clientURL,omitempty"`
	PeerURL   string `json:"peerURL,omitempty"`
	// Settings are the etcd settings (config.EtcdSettingsHash) of the
	// service spec; Pending, when set, are the config's newer ones this
	// member waits for the Raft leader to grant it.
	Settings string `json:"settings,omitempty"`
	Pending  string `json:"pendingSettings,omitempty"`
}

// EtcdObservedSpec is the spec of EtcdObserved/etcd: the local member's
// answer to a status call, or why there was none.
type EtcdObservedSpec struct {
	Reachable   bool     `json:"reachable"`
	Error       string   `json:"error,omitempty"`
	MemberID    uint64   `json:"memberID,omitempty"`
	ClusterID   uint64   `json:"clusterID,omitempty"`
	Learner     bool     `json:"learner,omitempty"`
	Leader      uint64   `json:"leader,omitempty"`
	RaftTerm    uint64   `json:"raftTerm,omitempty"`
	RaftIndex   uint64   `json:"raftIndex,omitempty"`
	DBSize      int64    `json:"dbSize,omitempty"`
	DBSizeInUse int64    `json:"dbSizeInUse,omitempty"`
	Version     string   `json:"version,omitempty"`
	Alarms      []string `json:"alarms,omitempty"`
	Errors      []string `json:"errors,omitempty"`
	Members     int      `json:"members,omitempty"`
	// Settings are the etcd settings of the process that answered (its
	// CAIRN_ETCD_SETTINGS), when known.
	Settings string `json:"settings,omitempty"`
}

// EtcdStatusSpec is the spec of EtcdStatus/etcd.
type EtcdStatusSpec struct {
	Phase string `json:"phase"`
	// Healthy: a voting or learning member that answers, knows a leader,
	// belongs to the decided cluster and has no alarm.
	Healthy bool `json:"healthy"`
	// Reason says why it is not healthy, or what it is doing.
	Reason      string   `json:"reason,omitempty"`
	MemberID    string   `json:"memberID,omitempty"`
	ClusterID   string   `json:"clusterID,omitempty"`
	Learner     bool     `json:"learner,omitempty"`
	Leader      string   `json:"leader,omitempty"`
	IsLeader    bool     `json:"isLeader,omitempty"`
	RaftIndex   uint64   `json:"raftIndex,omitempty"`
	DBSize      int64    `json:"dbSize,omitempty"`
	Alarms      []string `json:"alarms,omitempty"`
	Members     int      `json:"members,omitempty"`
	Generation  uint64   `json:"generation,omitempty"`
	ClientURL   string   `json:"clientURL,omitempty"`
	Version     string   `json:"version,omitempty"`
	DBSizeInUse int64    `json:"dbSizeInUse,omitempty"`
	// Settings are the etcd settings the healthy member runs with (empty
	// while it is not healthy): what the node reports in gossip, so the
	// leader moves a settings change on to the next member.
	Settings string `json:"settings,omitempty"`
}
