package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"sigs.k8s.io/yaml"
)

// EnvCairnconfig names the environment variable that locates the client
// config file when --cairnconfig is not given.
const EnvCairnconfig = "CAIRNCONFIG"

// ClientConfig is the cairnconfig file: named contexts, each saying which
// endpoints to talk to and which nodes to ask by default, and the current
// context.
type ClientConfig struct {
	// Context is the name of the current context.
	Context string `json:"context,omitempty"`
	// Contexts maps context names to contexts.
	Contexts map[string]*Context `json:"contexts,omitempty"`
}

// Context is one cluster as the client reaches it, and who the client is
// there: the node API is TLS-only and wants a client certificate signed by
// the cluster CA, whose roles (in its Organization) decide what it may do.
type Context struct {
	// Endpoints are node API addresses (host:port), tried in order.
	Endpoints []string `json:"endpoints,omitempty"`
	// Nodes are the node names commands ask by default, through the endpoint.
	Nodes []string `json:"nodes,omitempty"`
	// CA is the PEM-encoded cluster CA certificate, which the endpoints'
	// certificates must chain to.
	CA string `json:"ca,omitempty"`
	// Crt is the PEM-encoded client certificate.
	Crt string `json:"crt,omitempty"`
	// Key is the PEM-encoded private key of Crt.
	Key string `json:"key,omitempty"`
}

// defaultClientConfigPath returns where the client config lives when no
// flag names it: $CAIRNCONFIG, else $HOME/.cairn/config.
func defaultClientConfigPath() (string, error) {
	if p := os.Getenv(EnvCairnconfig); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locate the client config: %w", err)
	}
	return filepath.Join(home, ".cairn", "config"), nil
}

// ReadClientConfig reads a client config file; a missing file is an empty
// config, so the first cluster create can write it.
func ReadClientConfig(path string) (*ClientConfig, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &ClientConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read client config: %w", err)
	}
	var c ClientConfig
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("parse client config %s: %w", path, err)
	}
	return &c, nil
}

// WriteClientConfig writes c to path, readable by the owner only, replacing
// the file atomically.
func WriteClientConfig(path string, c *ClientConfig) error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode client config: %w", err)
	}
	return writeFileAtomic(path, data, 0o600)
}

// Merge adds or replaces the context name and, if makeCurrent, selects it.
func (c *ClientConfig) Merge(name string, ctx Context, makeCurrent bool) {
	if c.Contexts == nil {
		c.Contexts = map[string]*Context{}
	}
	c.Contexts[name] = &ctx
	if makeCurrent || c.Context == "" {
		c.Context = name
	}
}

// Remove deletes the context name and reports whether it existed. Removing
// the current context leaves no context current.
func (c *ClientConfig) Remove(name string) bool {
	if _, ok := c.Contexts[name]; !ok {
		return false
	}
	delete(c.Contexts, name)
	if c.Context == name {
		c.Context = ""
	}
	return true
}

// contextNames returns the context names in order.
func (c *ClientConfig) contextNames() []string {
	return slices.Sorted(maps.Keys(c.Contexts))
}

// Selected returns the context named name, or the current context when name
// is empty. It returns nil and no error when no context is selected at all.
func (c *ClientConfig) Selected(name string) (*Context, string, error) {
	if name == "" {
		name = c.Context
	}
	if name == "" {
		return nil, "", nil
	}
	ctx, ok := c.Contexts[name]
	if !ok {
		return nil, name, fmt.Errorf("%w %q (known: %v)", ErrUnknownContext, name, c.contextNames())
	}
	return ctx, name, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames it
// into place, creating the directory (owner-only) if needed.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), perm)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
