package cli

import (
	"bytes"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/cairn-project/cairn/internal/orderedyaml"
)

// mergePatchYAML applies an RFC 7386 JSON merge patch, written as JSON or
// YAML, to a YAML document with github.com/evanphx/json-patch/v5: keys set
// in the patch replace or merge into the document, null deletes a key,
// lists replace lists wholesale. Both sides are converted to JSON keeping
// key order, which the library keeps too, so the result reads like the
// original with new keys last. A patch that is not a mapping would replace
// the whole document, which is never meant here, so it is refused; a
// document that is not a mapping is patched as an empty one.
func mergePatchYAML(doc, patch []byte) ([]byte, error) {
	d, err := orderedyaml.ToJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("parse document: %w", err)
	}
	p, err := orderedyaml.ToJSON(patch)
	if err != nil {
		return nil, fmt.Errorf("%w: the patch must be a JSON or YAML mapping: %w", ErrUsage, err)
	}
	if !isObject(p) {
		return nil, fmt.Errorf("%w: the patch must be a JSON or YAML mapping", ErrUsage)
	}
	if !isObject(d) {
		d = []byte("{}")
	}
	out, err := jsonpatch.MergePatch(d, p)
	if err != nil {
		return nil, fmt.Errorf("apply merge patch: %w", err)
	}
	y, err := orderedyaml.FromJSON(out)
	if err != nil {
		return nil, fmt.Errorf("encode patched document: %w", err)
	}
	return y, nil
}

// isObject reports whether the compact JSON js is an object.
func isObject(js []byte) bool { return bytes.HasPrefix(js, []byte("{")) }
