package controllers

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairn-project/cairn/node/machine/etcd"
	"github.com/cairn-project/cairn/node/runtime"
)

// EtcdObserve asks the local etcd member how it is, every Interval, and
// publishes the answer (or why there was none) as EtcdObserved/etcd. It
// only observes: EtcdSpec decides what runs. The client is made once the
// member's client certificate exists, and made again after a failure, so
// a renewed certificate is picked up.
type EtcdObserve struct {
	Layout    etcd.Layout
	ClientURL string
	Interval  time.Duration
	// PID, when set, returns the supervised etcd's process ID (0 when none
	// runs): a sample during which it did not change reports that
	// process's settings (its EtcdSettingsEnv).
	PID func() int
}

// Name implements runtime.Source.
func (s *EtcdObserve) Name() string { return "etcd-observe" }

// Outputs implements runtime.Source.
func (s *EtcdObserve) Outputs() []string { return []string{TypeEtcdObserved} }

// Run implements runtime.Source.
func (s *EtcdObserve) Run(ctx context.Context, w runtime.Writer) error {
	every := s.Interval
	if every == 0 {
		every = 2 * time.Second
	}
	var cli *clientv3.Client
	defer func() {
		if cli != nil {
			_ = cli.Close()
		}
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if cli == nil {
			if conf, err := etcd.LoadClientTLS(s.Layout); err == nil {
				cli, _ = s.dial(conf)
			}
		}
		spec := s.sample(ctx, cli)
		if !spec.Reachable && cli != nil {
			_ = cli.Close()
			cli = nil
		}
		if err := w.Put(TypeEtcdObserved, IDEtcd, spec, nil); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (s *EtcdObserve) dial(conf *tls.Config) (*clientv3.Client, error) {
	return etcd.New([]string{s.ClientURL}, conf)
}

// sample is one status call, with the member count and alarms.
func (s *EtcdObserve) sample(ctx context.Context, cli *clientv3.Client) EtcdObservedSpec {
	if cli == nil {
		return EtcdObservedSpec{Error: "no etcd client certificate yet"}
	}
	call, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	pid := s.pid()
	st, err := cli.Status(call, s.ClientURL)
	if err != nil {
		return EtcdObservedSpec{Error: err.Error()}
	}
	settings := ""
	if pid != 0 && s.pid() == pid {
		settings = processEnv(pid, EtcdSettingsEnv)
	}
	out := EtcdObservedSpec{
		Reachable: true, MemberID: st.Header.MemberId, ClusterID: st.Header.ClusterId, Learner: st.IsLearner,
		Leader: st.Leader, RaftTerm: st.RaftTerm, RaftIndex: st.RaftIndex, DBSize: st.DbSize,
		DBSizeInUse: st.DbSizeInUse, Version: st.Version, Errors: st.Errors, Settings: settings,
	}
	if ml, err := cli.MemberList(call); err == nil {
		out.Members = len(ml.Members)
	}
	if !st.IsLearner { // a learner does not serve the alarm list
		if al, err := cli.AlarmList(call); err == nil {
			for _, a := range al.Alarms {
				out.Alarms = append(out.Alarms, a.Alarm.String())
			}
		}
	}
	return out
}

func (s *EtcdObserve) pid() int {
	if s.PID == nil {
		return 0
	}
	return s.PID()
}

// processEnv reads one variable of a process's environment from
// /proc/PID/environ ("" when unreadable or unset).
func processEnv(pid int, name string) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return ""
	}
	for kv := range strings.SplitSeq(string(raw), "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}
