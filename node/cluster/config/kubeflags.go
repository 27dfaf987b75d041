package config

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// kubeFlagsJSON is every flag of the Kubernetes components Cairn
// configures, with its pflag type, as `kube flags` prints it for the
// binaries this build ships (`make kube-flags` regenerates it; the
// integration suite checks it against the built kube binary).
//
//go:embed kubeflags.json
var kubeFlagsJSON []byte

// kubeFlags parses kubeFlagsJSON once: component → flag → type.
var kubeFlags = sync.OnceValue(func() map[string]map[string]string {
	var m map[string]map[string]string
	if err := json.Unmarshal(kubeFlagsJSON, &m); err != nil {
		panic(fmt.Sprintf("config: kubeflags.json: %v", err)) // a build-time file; its test parses it
	}
	return m
})

// KubeFlagType returns the type of a Kubernetes component's flag (bool,
// int32, duration, stringSlice, ...) and whether the component has it.
func KubeFlagType(component, flag string) (string, bool) {
	t, ok := kubeFlags()[component][flag]
	return t, ok
}

// checkKubeFlagValue checks a value against its flag's type where the
// type has one spelling (numbers, booleans, durations); other values are
// the component's to judge when it starts.
func checkKubeFlagValue(typ, v string) error {
	var err error
	switch typ {
	case "bool":
		_, err = strconv.ParseBool(v)
	case "int", "int32", "int64":
		_, err = strconv.ParseInt(v, 10, 64)
	case "uint", "uint64":
		_, err = strconv.ParseUint(v, 10, 64)
	case "float32", "float64":
		_, err = strconv.ParseFloat(v, 64)
	case "duration":
		_, err = time.ParseDuration(v)
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("takes a %s, got %q", typ, v)
	}
	return nil
}
