package node

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/node/cluster/formation"
)

// gossipKeyring is the node's gossip keys, persisted in the state directory
// (0600) so that a rotation survives restarts: a node restarted from its old
// cluster file still speaks the cluster's current key. Without the file the
// key of the cluster config is the only one.
type gossipKeyring struct {
	mu      sync.Mutex
	path    string
	agent   *formation.Agent // set once the agent runs
	primary []byte
	keys    [][]byte // every accepted key, primary included
}

type keyringFile struct {
	Primary string   `json:"primary"`
	Keys    []string `json:"keys"`
}

func loadKeyring(dir string, configKey []byte) (*gossipKeyring, error) {
	k := &gossipKeyring{path: filepath.Join(dir, "gossip-keyring.json"), primary: configKey, keys: [][]byte{configKey}}
	data, err := os.ReadFile(k.path)
	if errors.Is(err, os.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read gossip keyring: %w", err)
	}
	var f keyringFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", k.path, err)
	}
	dec := func(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
	if k.primary, err = dec(f.Primary); err != nil {
		return nil, fmt.Errorf("%s: primary key: %w", k.path, err)
	}
	k.keys = nil
	for _, s := range f.Keys {
		key, err := dec(s)
		if err != nil {
			return nil, fmt.Errorf("%s: key: %w", k.path, err)
		}
		k.keys = append(k.keys, key)
	}
	return k, nil
}

// extra returns the accepted keys besides the primary.
func (k *gossipKeyring) extra() [][]byte {
	var out [][]byte
	for _, key := range k.keys {
		if !bytes.Equal(key, k.primary) {
			out = append(out, key)
		}
	}
	return out
}

func (k *gossipKeyring) saveLocked() error {
	f := keyringFile{Primary: base64.StdEncoding.EncodeToString(k.primary)}
	for _, key := range k.keys {
		f.Keys = append(f.Keys, base64.StdEncoding.EncodeToString(key))
	}
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	tmp := k.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write gossip keyring: %w", err)
	}
	return os.Rename(tmp, k.path)
}

// List implements api.GossipKeyring.
func (k *gossipKeyring) List() (string, []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var ids []string
	for _, key := range k.keys {
		ids = append(ids, gossip.KeyID(key))
	}
	return gossip.KeyID(k.primary), ids
}

// Install implements api.GossipKeyring.
func (k *gossipKeyring) Install(key []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.agent.Gossip().InstallKey(key); err != nil {
		return err
	}
	if !slices.ContainsFunc(k.keys, func(x []byte) bool { return bytes.Equal(x, key) }) {
		k.keys = append(k.keys, key)
	}
	return k.saveLocked()
}

// Use implements api.GossipKeyring.
func (k *gossipKeyring) Use(key []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.agent.Gossip().UseKey(key); err != nil {
		return err
	}
	k.primary = key
	return k.saveLocked()
}

// Remove implements api.GossipKeyring.
func (k *gossipKeyring) Remove(key []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.agent.Gossip().RemoveKey(key); err != nil {
		return err
	}
	k.keys = slices.DeleteFunc(k.keys, func(x []byte) bool { return bytes.Equal(x, key) })
	return k.saveLocked()
}
