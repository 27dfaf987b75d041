// Package archtest holds tests of the repository's shape: import boundaries
// between the top-level packages (see shared DESIGN.md and STYLE.md).
package archtest
