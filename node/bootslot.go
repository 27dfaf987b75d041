package node

import (
	"log/slog"

	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/boot"
)

// bootSlot is the A/B slot this node was started from: BootSlot, or slot
// A for a node not started by a boot stage with slots (container and pid1
// modes today).
func (o Options) bootSlot() string {
	if o.BootSlot == "" {
		return boot.SlotA
	}
	return o.BootSlot
}

// bootMeta is what gossip says of the node's boot slots: on trial or not,
// and the boot stage's last fallback, read from its boot record (a node
// started without slots has none).
func bootMeta(o Options, log *slog.Logger) formation.BootMeta {
	m := formation.BootMeta{Trial: o.BootTrial}
	if o.BootSlot == "" {
		return m
	}
	rec, err := boot.LoadRecord(o.StateDir)
	if err != nil {
		log.Warn("read boot record", "error", err)
		return m
	}
	if rec.Fallback != nil {
		m.FallbackAt, m.FallbackReason = rec.Fallback.At, rec.Fallback.Slot+": "+rec.Fallback.Reason
	}
	return m
}
