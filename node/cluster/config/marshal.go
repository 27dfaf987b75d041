package config

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/cairn-project/cairn/internal/orderedyaml"
)

// Marshal encodes the document as YAML with fields in schema order (apiVersion,
// kind, cluster, secrets, nodes). With redact true every secret value — the
// gossip key, the join token and the CA private key — is replaced by Redacted;
// the CA certificate is public and stays, so clients can still trust the
// cluster from redacted output. Empty secrets stay empty, so redaction never
// hides that a secret is missing.
func (c *Config) Marshal(redact bool) ([]byte, error) {
	if redact {
		return redactedView(c, nil).encode()
	}
	return c.encode()
}

// encode writes c as YAML in schema order: encoding/json gives the order
// of the Go types, which orderedyaml keeps.
func (c *Config) encode() ([]byte, error) {
	js, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("marshal cluster config: %w", err)
	}
	out, err := orderedyaml.FromJSON(js)
	if err != nil {
		return nil, fmt.Errorf("marshal cluster config: %w", err)
	}
	return out, nil
}

// Canonical returns the canonical YAML form of c, with secrets, as stored in
// Raft: field order follows the Go types, lists keep document order, optional
// empty fields are omitted and comments and formatting of the original file are
// gone. Equal configs always give equal bytes. It returns nil for a nil config.
func Canonical(c *Config) []byte {
	if c == nil {
		return nil
	}
	out, err := c.Marshal(false)
	if err != nil {
		// Config holds only strings, integers, booleans, structs and slices,
		// which always encode.
		panic(fmt.Sprintf("config: canonical encoding failed: %v", err))
	}
	return out
}

// Redacted returns a deep copy of c with every non-empty secret value replaced
// by Redacted.
func (c *Config) Redacted() Config {
	out := c.clone()
	redactValue(reflect.ValueOf(&out).Elem(), reflect.Value{})
	return out
}

// RestoreSecrets replaces every secret value in c that is Redacted with the
// value at the same place in from. It lets an operator edit redacted output and
// apply it without ever handling the secrets: the API restores them from the
// stored config before validating. Secrets that cannot be restored (the place
// does not exist in from) stay redacted and fail validation.
func (c *Config) RestoreSecrets(from *Config) {
	restore(reflect.ValueOf(c).Elem(), reflect.ValueOf(from).Elem())
}

func restore(dst, src reflect.Value) {
	switch dst.Kind() {
	case reflect.Struct:
		for _, f := range structFields(dst.Type()) {
			if !f.secret && !hasSecrets(f.field.Type) {
				continue
			}
			d, s := dst.Field(f.index), src.Field(f.index)
			if f.secret && d.Kind() == reflect.String {
				if d.String() == Redacted {
					d.SetString(s.String())
				}
				continue
			}
			restore(d, s)
		}
	case reflect.Slice:
		for i := range min(dst.Len(), src.Len()) {
			restore(dst.Index(i), src.Index(i))
		}
	}
}

// clone returns a deep copy of c by way of JSON, which is exact for these
// types and cannot drift as fields are added.
func (c *Config) clone() Config {
	js, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("config: clone: %v", err))
	}
	var out Config
	if err := json.Unmarshal(js, &out); err != nil {
		panic(fmt.Sprintf("config: clone: %v", err))
	}
	return out
}
