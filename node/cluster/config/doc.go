// Package config defines Cairn's cluster configuration document: one YAML file,
// identical on every node, that describes the whole cluster — its identity, its
// secrets, its control-plane size and every node's addresses and network.
//
// The lifecycle is Generate (or hand-written YAML) → Parse (strict: unknown fields
// and wrong types are errors with their field path) → Validate (semantic checks,
// every problem reported at once with its field path) → NodeFor (a booting node
// finds its own entry) → Canonical (the form stored in Raft). Marshal and Diff
// redact secrets so the document can be shown to operators and logged safely.
//
// Schema returns a JSON Schema generated from the Go types in types.go, whose field
// comments double as the schema descriptions; docs/config-schema.json is kept in
// sync by TestSchemaUpToDate.
package config
