package controllers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cairn-project/cairn/node/machine/supervisor"
)

// ServiceSpecSpec is what a controller asks the supervisor to run: the spec
// of a ServiceSpec resource, ID = the service name. It is data (a resource
// spec is served as YAML and compared by value): the supervisor's Spec is
// built from it when it is applied.
type ServiceSpecSpec struct {
	// Path is the program's absolute path; Args its arguments.
	Path string   `json:"path"`
	Args []string `json:"args,omitempty"`
	// Env is the whole environment, KEY=value; nothing is inherited.
	Env []string `json:"env,omitempty"`
	Dir string   `json:"dir,omitempty"`
	// Restart is always (the default), once or until-success.
	Restart string `json:"restart,omitempty"`
	// DependsOn names services that must be ready before this one starts.
	DependsOn []string `json:"dependsOn,omitempty"`
	// WaitForFiles must all exist before the service starts (certificates,
	// a socket of another service).
	WaitForFiles []string `json:"waitForFiles,omitempty"`
	// Health is checked while the process runs; nil for none.
	Health *ServiceHealthSpec `json:"health,omitempty"`
	// StopTimeout is how long a stop waits after SIGTERM before SIGKILL.
	StopTimeout time.Duration `json:"stopTimeout,omitempty"`
}

// ServiceHealthSpec is a service's health check: exactly one of Exec, HTTP
// and TCP.
type ServiceHealthSpec struct {
	Exec             []string      `json:"exec,omitempty"`
	HTTP             string        `json:"http,omitempty"`
	CAFile           string        `json:"caFile,omitempty"`
	TCP              string        `json:"tcp,omitempty"`
	Interval         time.Duration `json:"interval,omitempty"`
	Timeout          time.Duration `json:"timeout,omitempty"`
	FailureThreshold int           `json:"failureThreshold,omitempty"`
	StartPeriod      time.Duration `json:"startPeriod,omitempty"`
}

// ErrInvalidServiceSpec is returned when a ServiceSpec cannot be run.
var ErrInvalidServiceSpec = errors.New("invalid service spec")

// supervisorSpec builds the supervisor's spec for service name.
func (s ServiceSpecSpec) supervisorSpec(name string) (supervisor.Spec, error) {
	out := supervisor.Spec{
		Name: name, Path: s.Path, Args: s.Args, Env: s.Env, Dir: s.Dir,
		DependsOn: s.DependsOn, StopTimeout: s.StopTimeout,
	}
	switch s.Restart {
	case "", "always":
		out.Restart = supervisor.RestartAlways
	case "once":
		out.Restart = supervisor.RestartOnce
	case "until-success":
		out.Restart = supervisor.RestartUntilSuccess
	default:
		return supervisor.Spec{}, fmt.Errorf("%w %s: restart %q is not always, once or until-success", ErrInvalidServiceSpec, name, s.Restart)
	}
	if h := s.Health; h != nil {
		out.Health = &supervisor.HealthCheck{
			Exec: h.Exec, HTTP: h.HTTP, CAFile: h.CAFile, TCP: h.TCP, Interval: h.Interval, Timeout: h.Timeout,
			FailureThreshold: h.FailureThreshold, StartPeriod: h.StartPeriod,
		}
	}
	if files := s.WaitForFiles; len(files) > 0 {
		out.Condition = func(context.Context) error {
			for _, f := range files {
				if _, err := os.Stat(f); err != nil {
					return fmt.Errorf("waiting for %s: %w", f, err)
				}
			}
			return nil
		}
	}
	return out, nil
}
