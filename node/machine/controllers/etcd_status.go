package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cairn-project/cairn/node/runtime"
)

// EtcdStatus sums up this control plane's etcd member from what EtcdSpec
// decided (EtcdPhase), what the member answers (EtcdObserved) and the
// cluster's record (EtcdCluster, for the cluster ID), as EtcdStatus/etcd:
// healthy, or the one reason it is not. Gossip health, the node's
// Members entry and `cairnctl health` read it.
type EtcdStatus struct{}

// Name implements runtime.Controller.
func (c *EtcdStatus) Name() string { return "etcd-status" }

// Inputs implements runtime.Controller.
func (c *EtcdStatus) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeEtcdPhase, ID: IDEtcd}, {Type: TypeEtcdObserved, ID: IDEtcd}, {Type: TypeEtcdCluster, ID: IDEtcd}}
}

// Outputs implements runtime.Controller.
func (c *EtcdStatus) Outputs() []string { return []string{TypeEtcdStatus} }

// Run implements runtime.Controller.
func (c *EtcdStatus) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	phase, ok, err := getSpec[EtcdPhaseSpec](r, TypeEtcdPhase, IDEtcd)
	if err != nil || !ok {
		return err // no etcd on this node: no status
	}
	obs, _, err := getSpec[EtcdObservedSpec](r, TypeEtcdObserved, IDEtcd)
	if err != nil {
		return err
	}
	cl, _, err := getSpec[EtcdClusterSpec](r, TypeEtcdCluster, IDEtcd)
	if err != nil {
		return err
	}
	st := EtcdStatusSpec{Phase: phase.Phase, Generation: phase.Generation, ClientURL: phase.ClientURL}
	if obs.Reachable {
		st.MemberID, st.ClusterID, st.Learner = hexID(obs.MemberID), hexID(obs.ClusterID), obs.Learner
		st.Leader, st.IsLeader = hexID(obs.Leader), obs.Leader != 0 && obs.Leader == obs.MemberID
		st.RaftIndex, st.DBSize, st.DBSizeInUse, st.Alarms = obs.RaftIndex, obs.DBSize, obs.DBSizeInUse, obs.Alarms
		st.Members, st.Version = obs.Members, obs.Version
	}
	st.Healthy, st.Reason = judgeEtcd(phase, obs, cl)
	if st.Healthy {
		st.Settings = obs.Settings
	}
	if phase.Pending != "" && st.Reason == "" {
		st.Reason = phase.Reason
	}
	return w.Put(TypeEtcdStatus, IDEtcd, st, nil)
}

// judgeEtcd is the health rule: a running member of the decided cluster
// that answers, knows a leader and raises no alarm.
func judgeEtcd(phase EtcdPhaseSpec, obs EtcdObservedSpec, cl EtcdClusterSpec) (bool, string) {
	switch phase.Phase {
	case EtcdPhaseMember, EtcdPhaseBootstrapping, EtcdPhaseJoining:
	default:
		return false, phase.Reason
	}
	switch {
	case !obs.Reachable:
		return false, "etcd does not answer on " + phase.ClientURL + ": " + obs.Error
	case cl.ClusterID != 0 && obs.ClusterID != cl.ClusterID:
		return false, fmt.Sprintf("member of etcd cluster %s, but the cluster's etcd is %s", hexID(obs.ClusterID), hexID(cl.ClusterID))
	case obs.Leader == 0:
		return false, "etcd has no leader (no quorum)"
	case len(obs.Alarms) > 0:
		return false, "etcd alarms: " + strings.Join(obs.Alarms, ", ")
	case len(obs.Errors) > 0:
		return false, "etcd errors: " + strings.Join(obs.Errors, "; ")
	case obs.Learner:
		return true, "learner, catching up before the Raft leader promotes it"
	}
	return true, ""
}

// hexID renders an etcd ID as etcdctl does.
func hexID(id uint64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatUint(id, 16)
}

// getSpec reads one resource's spec of type T; ok is false when it does
// not exist.
func getSpec[T any](r runtime.Reader, typ, id string) (T, bool, error) {
	var zero T
	res, err := r.Get(typ, id)
	if errors.Is(err, runtime.ErrNotFound) {
		return zero, false, nil
	}
	if err != nil {
		return zero, false, err
	}
	spec, ok := res.Spec.(T)
	if !ok {
		return zero, false, fmt.Errorf("%s/%s holds %T", typ, id, res.Spec)
	}
	return spec, true, nil
}
