package runtime

import (
	"maps"
	"reflect"
)

// Resource is one typed, versioned object in a State.
//
// Spec is treated as immutable once written: the State keeps the value it
// was given, not a copy, so a writer must build a new spec for every change
// rather than mutate one it already wrote (COSI makes the same demand through
// DeepCopy). Labels, in contrast, are copied on the way in and out.
type Resource struct {
	// Type groups resources; controllers declare inputs and outputs by type.
	Type string
	// ID is unique among resources of the same Type.
	ID string
	// Version is assigned by the State from one counter shared by every
	// resource, so it increases on every change and a resource deleted and
	// created again never repeats an earlier version.
	Version uint64
	// Spec is the resource's content; it must be JSON-marshalable, because
	// the node API renders it as YAML through its JSON form.
	Spec any
	// Labels are free-form key/value pairs; nil and empty are the same.
	Labels map[string]string
	// Owner is the name of the controller that writes the resource, or empty
	// for resources written from outside the runtime (configuration, tests).
	Owner string
}

// clone returns r with its own copy of Labels.
func (r Resource) clone() Resource {
	r.Labels = maps.Clone(r.Labels)
	return r
}

// sameContent reports whether writing b over a would change nothing a reader
// can see: such a write keeps the version and emits no event.
func sameContent(a, b Resource) bool {
	return maps.Equal(a.Labels, b.Labels) && reflect.DeepEqual(a.Spec, b.Spec)
}

// EventType says what happened to a watched resource.
type EventType int

// Event types, in the order a watch can first see them.
const (
	// EventCreated reports a resource that did not exist before, or that
	// existed when the watch started.
	EventCreated EventType = iota + 1
	// EventUpdated reports a change to a resource's spec or labels.
	EventUpdated
	// EventDeleted reports a removed resource and carries its last state.
	EventDeleted
	// EventBootstrapped is sent once, after the EventCreated events for the
	// resources that existed when the watch started; every later event is a
	// live change. Its Resource is empty.
	EventBootstrapped
)

// String returns the event type's name, for logs and test failures.
func (t EventType) String() string {
	switch t {
	case EventCreated:
		return "created"
	case EventUpdated:
		return "updated"
	case EventDeleted:
		return "deleted"
	case EventBootstrapped:
		return "bootstrapped"
	}
	return "unknown"
}

// Event is one change seen by a watch.
type Event struct {
	Type     EventType
	Resource Resource
}
