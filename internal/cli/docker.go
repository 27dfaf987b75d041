package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// docker runs the docker CLI, which is what the docker provisioner needs
// of Docker: the CLI is on every machine with Docker, and talking to it
// through os/exec, as kind does, spares cairnctl the Docker SDK and its
// dependencies.
type docker interface {
	// run runs 'docker args…' with env added to cairnctl's environment
	// and returns its standard output; a failure carries its standard
	// error.
	run(ctx context.Context, env []string, args ...string) (string, error)
	// combined runs 'docker args…' and returns its standard output and
	// error interleaved, as 'docker logs' splits a container's own.
	combined(ctx context.Context, args ...string) (string, error)
}

// errDockerNotFound marks a docker command that failed because the object
// it names (container, network, volume, image) does not exist.
var errDockerNotFound = errors.New("no such object")

// dockerCLI is docker through the docker binary in PATH.
type dockerCLI struct{}

func (dockerCLI) run(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if isDockerNotFound(msg) {
			return stdout.String(), fmt.Errorf("docker %s: %w: %s", args[0], errDockerNotFound, msg)
		}
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(firstArgs(args, 2), " "), err, msg)
	}
	return stdout.String(), nil
}

// isDockerNotFound reports whether a docker error message says the named
// object does not exist; the CLI has no exit code for that.
func isDockerNotFound(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "no such") || strings.Contains(m, "not found")
}

func firstArgs(args []string, n int) []string { return args[:min(n, len(args))] }

func (dockerCLI) combined(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if isDockerNotFound(msg) {
			return "", fmt.Errorf("docker %s: %w: %s", args[0], errDockerNotFound, msg)
		}
		return "", fmt.Errorf("docker %s: %w: %s", args[0], err, msg)
	}
	return string(out), nil
}
