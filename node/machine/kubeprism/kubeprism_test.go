package kubeprism

import (
	"bufio"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backend answers each line with its name and the line.
func backend(t *testing.T, name string) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					_, _ = c.Write([]byte(name + ":" + sc.Text() + "\n"))
				}
			})
		}
	})
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = ln.Close()
		}
	}
	t.Cleanup(func() { stop(); wg.Wait() })
	return ln.Addr().String(), stop
}

func ask(t *testing.T, addr, line string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// TestProxyFailsOver: connections go to the first endpoint that answers, in
// the order the node gives; a dead one is skipped; with none, the client's
// connection is closed; ending the context closes everything.
func TestProxyFailsOver(t *testing.T) {
	a, stopA := backend(t, "a")
	b, _ := backend(t, "b")
	var mu sync.Mutex
	eps := []string{a, b}
	p := &Proxy{Endpoints: func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), eps...) }, DialTimeout: 500 * time.Millisecond}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()

	got, err := ask(t, ln.Addr().String(), "one")
	require.NoError(t, err)
	assert.Equal(t, "a:one\n", got, "the first endpoint")

	stopA()
	got, err = ask(t, ln.Addr().String(), "two")
	require.NoError(t, err)
	assert.Equal(t, "b:two\n", got, "a is down: the next one")

	mu.Lock()
	eps = []string{a}
	mu.Unlock()
	_, err = ask(t, ln.Addr().String(), "three")
	assert.Error(t, err, "no apiserver: the connection is closed")

	// A connection held open is closed when the proxy stops.
	mu.Lock()
	eps = []string{b}
	mu.Unlock()
	held, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer held.Close()
	_, err = held.Write([]byte("four\n"))
	require.NoError(t, err)
	line, err := bufio.NewReader(held).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "b:four\n", line)
	cancel()
	require.NoError(t, <-done)
	_ = held.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = held.Read(make([]byte, 1))
	assert.Error(t, err, "closed by the stop")
}
