// Package runtime is the node's controller runtime, modeled on COSI
// (cosi-project/runtime, the one Talos uses): a State of typed, versioned,
// in-memory resources, and a Runtime that runs controllers against it.
//
// A controller declares the resource types it reads (Inputs) and writes
// (Outputs) and implements one reconcile pass. The runtime, not the
// controller, owns everything around the pass: it runs it at start and
// whenever an input changes, refuses undeclared reads and writes, retries
// failures and panics with capped exponential backoff, and after each
// successful pass deletes the controller's outputs the pass did not write.
// Controllers chain through resources alone: one's outputs are another's
// inputs.
//
// See DESIGN.md for why it is shaped this way.
package runtime
