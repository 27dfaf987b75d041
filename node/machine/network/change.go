package network

import "fmt"

// Kind is the kind of kernel object a Change touches.
type Kind string

const (
	// KindLink is a link's administrative state or MTU.
	KindLink Kind = "link"
	// KindAddress is an address on a link.
	KindAddress Kind = "address"
	// KindRoute is a main-table route.
	KindRoute Kind = "route"
)

// Action is what a Change does to its object.
type Action string

const (
	// ActionSet changes a link attribute.
	ActionSet Action = "set"
	// ActionAdd adds an address.
	ActionAdd Action = "add"
	// ActionReplace adds a route or replaces the one with the same
	// destination and metric.
	ActionReplace Action = "replace"
	// ActionRemove deletes an address or route that Cairn owned.
	ActionRemove Action = "remove"
)

// Change is one kernel operation, made by Apply or proposed by Plan. Changes
// are values for logs and status, not instructions to replay.
type Change struct {
	// Kind is the object kind.
	Kind Kind
	// Action is the operation.
	Action Action
	// Link is the interface name the object is on.
	Link string
	// Object describes the object: "up", "mtu 1400", "192.0.2.1/24",
	// "0.0.0.0/0 via 192.0.2.254 metric 100".
	Object string
}

// String renders the change for a log line, for example
// "add address 192.0.2.1/24 on eth0".
func (c Change) String() string {
	if c.Kind == KindLink {
		return fmt.Sprintf("%s link %s %s", c.Action, c.Link, c.Object)
	}
	return fmt.Sprintf("%s %s %s on %s", c.Action, c.Kind, c.Object, c.Link)
}

// Changes lists the operations of one Apply or Plan, in execution order.
type Changes []Change

// Strings renders every change with Change.String, for a log field.
func (cs Changes) Strings() []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

func (r RouteSpec) String() string {
	s := r.Dst.String()
	if r.Gateway.IsValid() {
		s += " via " + r.Gateway.String()
	}
	return fmt.Sprintf("%s metric %d", s, effectiveMetric(r.Dst, r.Metric))
}
