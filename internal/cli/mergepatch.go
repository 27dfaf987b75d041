package cli

import (
	"fmt"
	"reflect"
	"slices"

	yaml "go.yaml.in/yaml/v2"
)

// mergePatchYAML applies an RFC 7386 JSON merge patch, written as JSON or
// YAML, to a YAML document: keys set in the patch replace or merge into the
// document, null deletes a key, lists replace lists wholesale. The
// document's key order is kept and new keys go last, so the result reads
// like the original. A patch that is not a mapping would replace the whole
// document, which is never meant here, so it is refused.
func mergePatchYAML(doc, patch []byte) ([]byte, error) {
	var d, p yaml.MapSlice
	if err := yaml.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("parse document: %w", err)
	}
	if err := yaml.Unmarshal(patch, &p); err != nil {
		return nil, fmt.Errorf("%w: the patch must be a JSON or YAML mapping: %w", ErrUsage, err)
	}
	out, err := yaml.Marshal(mergePatch(d, p))
	if err != nil {
		return nil, fmt.Errorf("encode patched document: %w", err)
	}
	return out, nil
}

// mergePatch implements the MergePatch function of RFC 7386, section 2, on
// ordered YAML mappings.
func mergePatch(target, patch any) any {
	p, ok := patch.(yaml.MapSlice)
	if !ok {
		return patch
	}
	t, _ := target.(yaml.MapSlice)
	t = slices.Clone(t)
	for _, item := range p {
		i := slices.IndexFunc(t, func(ti yaml.MapItem) bool { return reflect.DeepEqual(ti.Key, item.Key) })
		switch {
		case item.Value == nil:
			if i >= 0 {
				t = slices.Delete(t, i, i+1)
			}
		case i >= 0:
			t[i].Value = mergePatch(t[i].Value, item.Value)
		default:
			t = append(t, yaml.MapItem{Key: item.Key, Value: mergePatch(nil, item.Value)})
		}
	}
	if t == nil {
		t = yaml.MapSlice{}
	}
	return t
}
