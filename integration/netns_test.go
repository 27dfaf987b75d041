package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// helperEnv makes the test binary a tiny network helper (runHelper), run
// inside a network namespace with `ip netns exec`: "listen ADDR" accepts one
// TCP connection and echoes a line; "dial ADDR" sends a line and prints the
// echo.
const helperEnv = "CAIRN_IT_HELPER"

func runHelper(role string) int {
	verb, addr, _ := strings.Cut(role, " ")
	switch verb {
	case "listen":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("listening")
		conn, err := ln.Accept()
		if err != nil {
			return 1
		}
		line, _ := bufio.NewReader(conn).ReadString('\n')
		_, _ = io.WriteString(conn, "echo "+line)
		_ = conn.Close()
		return 0
	case "dial":
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "hello\n")
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return 1
		}
		fmt.Print(line)
		return 0
	}
	return 2
}

// sh runs a command and fails the test on error.
func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	require.NoError(t, err, "%s: %s", strings.Join(args, " "), out)
	return string(out)
}

// netns is a network namespace made by the test, removed at cleanup.
type netns struct{ name string }

func newNetns(t *testing.T, name string) netns {
	t.Helper()
	_ = exec.Command("ip", "netns", "del", name).Run() // a leftover from a killed run
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	sh(t, "ip", "-n", name, "link", "set", "lo", "up")
	return netns{name}
}

func (n netns) ip(t *testing.T, args ...string) string {
	return sh(t, append([]string{"ip", "-n", n.name}, args...)...)
}

// exec starts the test binary as a helper inside the namespace.
func (n netns) helper(ctx context.Context, role string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.name, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+role)
	return cmd
}
