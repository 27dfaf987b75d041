package gossip

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
)

// Key rotation is local to each node; the cluster rotates in three rounds,
// each finished on every node before the next starts (driven from the
// replicated configuration):
//
//  1. InstallKey(new): every node can decrypt both keys.
//  2. UseKey(new): nodes encrypt with the new key; laggards still read it.
//  3. RemoveKey(old): the old key stops working anywhere.
//
// Skipping a round splits the cluster while it lasts: a node encrypting
// with a key its peer lacks is refused (Status.DecryptFailures).

// KeyID returns a short fingerprint of key, safe to log and compare; the
// key itself never appears in logs or status.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:6])
}

// InstallKey adds key to the keyring for decryption, keeping the primary.
// Installing a key twice is not an error.
func (n *Node) InstallKey(key []byte) error {
	if len(key) != KeySize {
		return fmt.Errorf("install key: %w: %d bytes, want %d", ErrInvalidKey, len(key), KeySize)
	}
	if err := n.keyring.AddKey(bytes.Clone(key)); err != nil {
		return fmt.Errorf("install key %s: %w", KeyID(key), err)
	}
	n.log.Info("gossip key installed", "key_id", KeyID(key))
	return nil
}

// UseKey makes an installed key the primary, which encrypts everything this
// node sends from now on.
func (n *Node) UseKey(key []byte) error {
	if !n.hasKey(key) {
		return fmt.Errorf("use key %s: %w", KeyID(key), ErrUnknownKey)
	}
	if err := n.keyring.UseKey(key); err != nil {
		return fmt.Errorf("use key %s: %w", KeyID(key), err)
	}
	n.log.Info("gossip primary key changed", "key_id", KeyID(key))
	return nil
}

// RemoveKey removes a key that is not the primary.
func (n *Node) RemoveKey(key []byte) error {
	switch {
	case !n.hasKey(key):
		return fmt.Errorf("remove key %s: %w", KeyID(key), ErrUnknownKey)
	case bytes.Equal(key, n.keyring.GetPrimaryKey()):
		return fmt.Errorf("remove key %s: %w", KeyID(key), ErrPrimaryKey)
	}
	if err := n.keyring.RemoveKey(key); err != nil {
		return fmt.Errorf("remove key %s: %w", KeyID(key), err)
	}
	n.log.Info("gossip key removed", "key_id", KeyID(key))
	return nil
}

// KeyIDs returns the fingerprint of the primary key and of every
// installed key (the primary first).
func (n *Node) KeyIDs() (primary string, installed []string) {
	for _, k := range n.keyring.GetKeys() {
		installed = append(installed, KeyID(k))
	}
	return KeyID(n.keyring.GetPrimaryKey()), installed
}

func (n *Node) hasKey(key []byte) bool {
	return slices.ContainsFunc(n.keyring.GetKeys(), func(k []byte) bool {
		return bytes.Equal(k, key)
	})
}
