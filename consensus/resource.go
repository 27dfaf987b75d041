package consensus

// Resource is one typed, versioned object in the replicated store. Resources
// are immutable once stored: a write replaces the whole value, so a Resource
// returned by a read is safe to keep (callers must not modify Spec).
type Resource struct {
	// Type groups resources ("ClusterConfig", "UpgradePlan", "Member", ...).
	Type string `json:"type"`
	// ID is unique within Type.
	ID string `json:"id"`
	// Version starts at 1 on create and grows by one on every update of this
	// resource; it is what compare-and-set compares.
	Version uint64 `json:"version"`
	// Spec is the opaque payload (JSON by convention).
	Spec []byte `json:"spec,omitempty"`
	// CreateRevision is the cluster revision of the write that created it.
	CreateRevision uint64 `json:"createRevision"`
	// UpdateRevision is the cluster revision of the write that last changed it.
	UpdateRevision uint64 `json:"updateRevision"`
}

// EventKind says what a write did to a resource.
type EventKind uint8

// Event kinds, in the order a resource's life goes through them.
const (
	EventCreated EventKind = iota + 1
	EventUpdated
	EventDeleted
)

func (k EventKind) String() string {
	switch k {
	case EventCreated:
		return "created"
	case EventUpdated:
		return "updated"
	case EventDeleted:
		return "deleted"
	default:
		return "unknown"
	}
}

// Event is one change, as delivered by Watch. Every successful write produces
// exactly one event, at its own cluster revision.
type Event struct {
	Revision uint64    `json:"revision"`
	Kind     EventKind `json:"kind"`
	// Resource is the state after the write; for a delete, the last state
	// before it (with UpdateRevision set to the delete's revision).
	Resource Resource `json:"resource"`
}

// WriteResult is the outcome of a successful write.
type WriteResult struct {
	// Revision is the cluster revision the write produced.
	Revision uint64
	// Resource is the resource after the write (for Delete, as it was
	// removed). On a de-duplicated retry Spec is the retried request's spec.
	Resource Resource
	// Duplicate is true when the request ID had already been applied and this
	// is the recorded outcome of that first application.
	Duplicate bool
}

// ReadMode picks the consistency of a read.
type ReadMode uint8

const (
	// Linearizable reads reflect every write acknowledged before the read
	// started. Served only by the leader (see DESIGN.md, "Reads").
	Linearizable ReadMode = iota
	// Stale reads return this node's applied state, on any node, at once.
	Stale
)
