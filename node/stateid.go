package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// stateIDFile holds the identity of a node's state directory.
const stateIDFile = "state-id"

// loadStateID returns the ID of the state in dir, creating one for new
// state. The ID is part of the node's Raft server ID (formation.RaftID), so
// a node whose state was wiped comes back as a new server instead of a
// voter that forgot its log. State that predates state IDs (Raft data but
// no ID file) keeps an empty ID, and with it the bare node name as Raft ID.
func loadStateID(dir string) (string, error) {
	path := filepath.Join(dir, stateIDFile)
	data, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(data))
		if !validStateID(id) {
			return "", fmt.Errorf("%s holds %q, not a state ID (%d hex digits); restore it or wipe the state directory", path, id, 2*stateIDBytes)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read state ID: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "raft")); err == nil {
		return "", nil // state from before state IDs
	}
	var b [stateIDBytes]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	if err := writeFileSync(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("write state ID: %w", err)
	}
	return id, nil
}

// stateIDBytes is the state ID's length: 48 random bits are plenty to tell
// apart the states one node name ever has.
const stateIDBytes = 6

func validStateID(id string) bool {
	b, err := hex.DecodeString(id)
	return err == nil && len(b) == stateIDBytes
}

// writeFileSync writes path atomically and durably: a temporary file,
// fsync, rename, fsync of the directory.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
