package resources

import (
	"encoding/json"

	"sigs.k8s.io/yaml"

	"github.com/cairn-project/cairn/node/cluster/cfgstore"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/etcdboot"
	"github.com/cairn-project/cairn/node/cluster/etcdmembers"
	"github.com/cairn-project/cairn/node/cluster/rollout"
	"github.com/cairn-project/cairn/node/cluster/upgrade"
)

// Builtin returns the definitions of every cluster-plane type this release
// stores. A new type gets its entry here; node/api serves it with no new
// RPC.
func Builtin() []Definition {
	return []Definition{clusterConfig(), etcdBootstrap(), etcdMembership(), rolloutRecord(), upgradePlan()}
}

// Default returns the registry of the Builtin types.
func Default() *Registry {
	r, err := New(Builtin()...)
	if err != nil {
		panic(err) // the built-in set is fixed; TestBuiltinNamesAreUnique guards it
	}
	return r
}

// clusterConfig is the one cluster configuration. It is read-only here:
// ApplyConfig validates the whole document, keeps the secrets a redacted
// document leaves out and refuses immutable changes, which a generic
// replace of the spec would bypass. Readers always get it redacted, as
// GetConfig renders it by default: the generic API never returns secrets.
func clusterConfig() Definition {
	return Definition{
		Type:        cfgstore.ResourceType,
		Aliases:     []string{"clusterconfigs", "cc"},
		Description: "the cluster configuration, as stored in Raft; secrets redacted",
		WrittenBy:   "ClusterService.ApplyConfig ('cairnctl config apply'), which validates the whole document and keeps its secrets",
		Render:      redactedConfig,
	}
}

// redactedConfig renders a stored configuration (canonical YAML, secrets
// included) with its secrets redacted, exactly as GetConfig does.
func redactedConfig(spec []byte) ([]byte, error) {
	c, err := config.Parse(spec)
	if err != nil {
		return nil, err
	}
	return c.Marshal(true)
}

// etcdBootstrap is the record that decides, once, how etcd is first started.
// It is read-only here: a generic create or update would bypass the
// create-only decision and the generation compare-and-set. Its cluster
// token is a secret, redacted for every reader.
func etcdBootstrap() Definition {
	return Definition{
		Type:        etcdboot.ResourceType,
		Aliases:     []string{"etcdbootstraps", "etcdboot"},
		Description: "the etcd bootstrap decision (generation, initial members), decided once by the Raft leader; token redacted",
		WrittenBy:   "the Raft leader's etcd bootstrap (decided once; a new generation only by disaster recovery)",
		Render:      redactedEtcdBootstrap,
	}
}

// redactedEtcdBootstrap renders a stored bootstrap record with its cluster
// token replaced by config.Redacted.
func redactedEtcdBootstrap(spec []byte) ([]byte, error) {
	rec, err := etcdboot.Parse(spec)
	if err != nil {
		return nil, err
	}
	if rec.ClusterToken != "" {
		rec.ClusterToken = config.Redacted
	}
	js, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(js)
}

// etcdMembership is etcd's member set as the Raft leader keeps it, with the
// one change in flight. It is read-only here: only the leader's
// coordinator changes it, each step a compare-and-set after the change it
// records, and a generic write could make a node join with a member list
// etcd does not have. It holds no secret.
func etcdMembership() Definition {
	return Definition{
		Type:        etcdmembers.ResourceType,
		Aliases:     []string{"etcdmemberships", "etcdmembers"},
		Description: "etcd's members (name, state ID, member ID, learner) and the one membership change in flight, kept by the Raft leader",
		WrittenBy:   "the Raft leader's etcd membership coordinator, which follows the cluster config",
	}
}

// rolloutRecord is one rollout's grants (ID: what is rolled out, e.g.
// kubernetes-control-plane): the settings the Raft leader lets each node
// run. Read-only here: a generic write could let every node restart at
// once.
func rolloutRecord() Definition {
	return Definition{
		Type:        rollout.ResourceType,
		Aliases:     []string{"rollouts"},
		Description: "the settings the Raft leader has granted each node in a one-node-at-a-time rollout (kubernetes-control-plane: the Kubernetes control-plane components)",
		WrittenBy:   "the Raft leader's rollout coordinator, which follows the cluster config",
	}
}

// upgradePlan is the cluster's rolling upgrade (ID cluster): target,
// gates and each node's step. Read-only here: a generic write could grant
// every node at once or skip a failed one; operators change it through
// the upgrade commands, which check the plan's phase.
func upgradePlan() Definition {
	return Definition{
		Type:        upgrade.ResourceType,
		Aliases:     []string{"upgradeplans", "upgrades"},
		Description: "the rolling upgrade: target version and artifact digest, order, maxUnavailable, each node's step (pending → installing → rebooting → verifying → done, or failed)",
		WrittenBy:   "the Raft leader's upgrade coordinator, and the operator's upgrade start, pause, resume and abort",
	}
}
