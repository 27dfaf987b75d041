package consensus

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/hashicorp/raft"
)

// snapshotMagic starts every snapshot this package writes; the byte after the
// newline-terminated magic is not needed because the JSON body names its format.
const snapshotMagic = "CAIRN-SNAPSHOT\n"

// snapshotFormat is the version of snapshotData's layout.
const snapshotFormat = 1

// snapshotData is the whole FSM state. Its encoding is deterministic: the
// same state always produces the same bytes (resources sorted by type and
// ID, de-duplication entries in apply order, history in revision order).
type snapshotData struct {
	Format    int          `json:"format"`
	Index     uint64       `json:"index"`
	Revision  uint64       `json:"revision"`
	Resources []Resource   `json:"resources"`
	Dedup     []dedupEntry `json:"dedup"`
	History   []Event      `json:"history"`
}

// Persist implements raft.FSMSnapshot: magic, JSON body, then the SHA-256 of
// everything before it, so a damaged file is refused rather than half-loaded.
func (s *snapshotData) Persist(sink raft.SnapshotSink) error {
	sort.Slice(s.Resources, func(i, j int) bool {
		a, b := s.Resources[i], s.Resources[j]
		return a.Type < b.Type || (a.Type == b.Type && a.ID < b.ID)
	})
	if err := writeSnapshot(sink, s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *snapshotData) Release() {}

func writeSnapshot(w io.Writer, s *snapshotData) error {
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 256<<10)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := json.NewEncoder(bw).Encode(s); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if _, err := w.Write(h.Sum(nil)); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// readSnapshot decodes and verifies a snapshot. Errors wrap ErrCorrupt.
func readSnapshot(r io.Reader) (*snapshotData, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	if len(raw) < len(snapshotMagic)+sha256.Size || !bytes.HasPrefix(raw, []byte(snapshotMagic)) {
		return nil, fmt.Errorf("%w: not a cairn snapshot (bad header or truncated, %d bytes)", ErrCorrupt, len(raw))
	}
	body, sum := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("%w: snapshot checksum mismatch", ErrCorrupt)
	}
	var s snapshotData
	if err := json.Unmarshal(body[len(snapshotMagic):], &s); err != nil {
		return nil, fmt.Errorf("%w: decode snapshot: %v", ErrCorrupt, err)
	}
	if s.Format != snapshotFormat {
		return nil, fmt.Errorf("%w: snapshot format %d (this build knows %d)", ErrUnknownCommand, s.Format, snapshotFormat)
	}
	return &s, nil
}
