// Package supervisor runs and watches the long-lived processes a Cairn node
// is made of (etcd, kubelet, and whatever later needs a process of its own).
//
// A Supervisor holds services, each described by a Spec: the program, its
// restart policy, the services it depends on, an optional start condition
// and health check, and how to stop it. Run starts every added service as
// soon as its dependencies are running and healthy, restarts processes that
// exit (with exponential backoff) or fail their health check, reaps every
// child, and, when its context ends, stops all services in reverse
// dependency order: SIGTERM to the process group, then SIGKILL after the
// service's stop timeout.
//
// Each service's stdout and stderr are merged line by line into a
// size-rotated file and an in-memory ring buffer, which Logs tails and
// follows.
//
// See DESIGN.md for why it is shaped this way.
package supervisor
