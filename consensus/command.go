package consensus

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"hash/fnv"
)

// op is a command type. The values are part of the on-disk log format: never
// renumber them, only add.
type op uint8

const (
	opCreate op = 1 // create; fails if the resource exists
	opUpdate op = 2 // replace; compare-and-set on ExpectedVersion
	opDelete op = 3 // delete; compare-and-set on ExpectedVersion unless it is 0
	opPut    op = 4 // create or replace unconditionally
)

func (o op) known() bool { return o >= opCreate && o <= opPut }

// command is one replicated write. Every command carries a request ID so the
// FSM can answer a retry with the first outcome (see fsm.dedup).
type command struct {
	Op        op     `json:"op"`
	RequestID string `json:"rid"`
	Type      string `json:"t"`
	ID        string `json:"id"`
	Spec      []byte `json:"s,omitempty"`
	Expected  uint64 `json:"ev,omitempty"`
}

// commandFormat is the first byte of every log entry this package writes.
const commandFormat byte = 1

// crcTable is Castagnoli: hardware-accelerated on amd64 and arm64.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// encodeCommand frames a command as [format][crc32c of payload][JSON payload].
// The checksum lets Open tell a corrupt entry from an unknown one; BoltDB has
// no checksums of its own.
func encodeCommand(c *command) ([]byte, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode command: %w", err)
	}
	buf := make([]byte, 5+len(payload))
	buf[0] = commandFormat
	binary.BigEndian.PutUint32(buf[1:5], crc32.Checksum(payload, crcTable))
	copy(buf[5:], payload)
	return buf, nil
}

// decodeCommand is the inverse of encodeCommand. Errors wrap ErrCorrupt when
// the bytes are damaged and ErrUnknownCommand when they are intact but name a
// command or format this build does not know.
func decodeCommand(data []byte) (*command, error) {
	if len(data) < 5 {
		return nil, fmt.Errorf("%w: entry of %d bytes is shorter than its header", ErrCorrupt, len(data))
	}
	if data[0] != commandFormat {
		return nil, fmt.Errorf("%w: entry format %d (this build knows %d)", ErrUnknownCommand, data[0], commandFormat)
	}
	payload := data[5:]
	if want, got := binary.BigEndian.Uint32(data[1:5]), crc32.Checksum(payload, crcTable); want != got {
		return nil, fmt.Errorf("%w: entry checksum %08x, computed %08x", ErrCorrupt, want, got)
	}
	var c command
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: decode entry: %v", ErrCorrupt, err)
	}
	if !c.Op.known() {
		return nil, fmt.Errorf("%w: command type %d", ErrUnknownCommand, c.Op)
	}
	return &c, nil
}

// fingerprint identifies a command's content, so a request ID reused for a
// different command is caught instead of answered with the wrong outcome.
func (c *command) fingerprint() uint64 {
	h := fnv.New64a()
	var b [9]byte
	b[0] = byte(c.Op)
	binary.BigEndian.PutUint64(b[1:], c.Expected)
	h.Write(b[:])
	for _, s := range []string{c.Type, c.ID} {
		binary.BigEndian.PutUint64(b[1:], uint64(len(s)))
		h.Write(b[1:])
		h.Write([]byte(s))
	}
	h.Write(c.Spec)
	return h.Sum64()
}
