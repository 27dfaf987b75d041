package kubeconfig

import (
	"fmt"
	"maps"
	"reflect"
	"slices"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The kinds of kubeconfig entries, as the keys of Merge's renamed map name
// them: "cluster/demo", "user/admin@demo", "context/admin@demo".
const (
	KindCluster = "cluster"
	KindUser    = "user"
	KindContext = "context"
)

// Merge folds the kubeconfig add into existing and returns the result, with
// add's current context made current.
//
// Every entry of existing that add does not name is kept as it was, and so
// are its other fields (preferences, extensions). An entry of add whose name
// is free is added. One whose name is taken by an equal entry changes
// nothing. One whose name is taken by a different entry replaces it when
// force is set; otherwise it is added under the first free name of
// "<name>-1", "<name>-2", … (as talosctl does), so nothing the user had is
// lost, and renamed maps "<kind>/<name>" (KindCluster, KindUser,
// KindContext) to the name it got. The contexts of add are made to refer to
// their cluster and user by the names these got.
//
// An empty existing (no file yet) is an empty kubeconfig. Input that
// clientcmd cannot load fails with ErrInvalid. The output is written by
// clientcmd, so the order of keys and any comments of existing are not
// kept, as with kubectl config.
func Merge(existing, add []byte, force bool) (merged []byte, renamed map[string]string, err error) {
	dst, err := clientcmd.Load(existing)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the existing kubeconfig: %w", ErrInvalid, err)
	}
	src, err := clientcmd.Load(add)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the kubeconfig to add: %w", ErrInvalid, err)
	}
	renamed = map[string]string{}
	clusters := mergeEntries(dst.Clusters, src.Clusters, force, KindCluster, renamed)
	users := mergeEntries(dst.AuthInfos, src.AuthInfos, force, KindUser, renamed)
	contexts := make(map[string]*clientcmdapi.Context, len(src.Contexts))
	for name, c := range src.Contexts {
		c := *c
		c.Cluster = mapped(clusters, c.Cluster)
		c.AuthInfo = mapped(users, c.AuthInfo)
		contexts[name] = &c
	}
	contextNames := mergeEntries(dst.Contexts, contexts, force, KindContext, renamed)
	if src.CurrentContext != "" {
		dst.CurrentContext = mapped(contextNames, src.CurrentContext)
	}
	out, err := clientcmd.Write(*dst)
	if err != nil {
		return nil, nil, fmt.Errorf("encode kubeconfig: %w", err)
	}
	return out, renamed, nil
}

// mergeEntries adds the entries of src to dst under Merge's rule and
// returns the name each got. Names are taken in sorted order, so the
// renaming is the same on every run.
func mergeEntries[T any](dst, src map[string]*T, force bool, kind string, renamed map[string]string) map[string]string {
	names := make(map[string]string, len(src))
	for _, name := range slices.Sorted(maps.Keys(src)) {
		entry := src[name]
		target := name
		if old, taken := dst[name]; taken && !force && !reflect.DeepEqual(old, entry) {
			target = freeName(dst, name)
			renamed[kind+"/"+name] = target
		}
		dst[target] = entry
		names[name] = target
	}
	return names
}

// freeName is the first of "<name>-1", "<name>-2", … that entries lacks.
func freeName[T any](entries map[string]*T, name string) string {
	for i := 1; ; i++ {
		n := fmt.Sprintf("%s-%d", name, i)
		if _, taken := entries[n]; !taken {
			return n
		}
	}
}

// mapped is the name name got, or name itself when it was not merged (a
// reference to an entry add does not hold).
func mapped(names map[string]string, name string) string {
	if n, ok := names[name]; ok {
		return n
	}
	return name
}
