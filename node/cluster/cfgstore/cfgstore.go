// Package cfgstore keeps the one cluster configuration in the Raft store:
// seeding it from the bootstrap file, reading it with its revision, and
// applying changes with validation, compare-and-set and dry runs.
package cfgstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/node/cluster/config"
)

// The resource that holds the configuration.
const (
	ResourceType = "ClusterConfig"
	ResourceID   = "cluster"
)

var (
	// ErrNotSeeded is returned by Get before the leader has stored the
	// bootstrap configuration (right after the cluster formed).
	ErrNotSeeded = errors.New("cluster config not stored yet")
)

// RevisionConflictError is returned by Apply when expectedRevision is not
// the revision of the stored configuration.
type RevisionConflictError struct {
	Expected, Current uint64
}

func (e *RevisionConflictError) Error() string {
	return fmt.Sprintf("config revision conflict: expected %d, current %d", e.Expected, e.Current)
}

func (e *RevisionConflictError) Unwrap() error { return consensus.ErrConflict }

// Store is the subset of consensus.Store this package uses.
type Store interface {
	Get(ctx context.Context, typ, id string, mode consensus.ReadMode) (consensus.Resource, uint64, error)
	Create(ctx context.Context, typ, id string, spec []byte, opts ...consensus.WriteOption) (consensus.WriteResult, error)
	Update(ctx context.Context, typ, id string, spec []byte, expectedVersion uint64, opts ...consensus.WriteOption) (consensus.WriteResult, error)
	RecallUpdate(ctx context.Context, requestID, typ, id string, spec []byte) (consensus.WriteResult, bool, error)
}

// Stored is the configuration as stored, with its place in the store.
type Stored struct {
	Config *config.Config
	// Raw is the canonical YAML stored in Raft (secrets included).
	Raw []byte
	// Revision is the cluster revision of the write that set this config.
	Revision uint64
	// Version counts writes of the config resource.
	Version uint64
}

// Seed stores the bootstrap configuration if none is stored. Every control
// plane's leader hook may call it: the request ID is derived from the
// content, so retries are de-duplicated, and Create never overwrites.
func Seed(ctx context.Context, s Store, c *config.Config) error {
	raw := config.Canonical(c)
	sum := sha256.Sum256(raw)
	_, err := s.Create(ctx, ResourceType, ResourceID, raw, consensus.WithRequestID("seed-"+hex.EncodeToString(sum[:16])))
	if err == nil || errors.Is(err, consensus.ErrConflict) {
		return nil
	}
	return fmt.Errorf("seed cluster config: %w", err)
}

// Get reads the stored configuration.
func Get(ctx context.Context, s Store, mode consensus.ReadMode) (*Stored, error) {
	return (*Cache)(nil).Get(ctx, s, mode)
}

// Cache remembers the last decoded configuration and its renderings, so
// reads of an unchanged config skip parsing and marshalling (the resource
// version identifies the content). The zero value is ready; a nil *Cache
// caches nothing.
type Cache struct {
	mu       sync.Mutex
	stored   *Stored
	rendered map[bool][]byte // redact → YAML
}

// Get reads the stored configuration, decoding it only when it changed.
func (c *Cache) Get(ctx context.Context, s Store, mode consensus.ReadMode) (*Stored, error) {
	r, _, err := s.Get(ctx, ResourceType, ResourceID, mode)
	if errors.Is(err, consensus.ErrNotFound) {
		return nil, ErrNotSeeded
	}
	if err != nil {
		return nil, err
	}
	return c.Decode(r)
}

// Decode is the package-level Decode through the cache.
func (c *Cache) Decode(r consensus.Resource) (*Stored, error) {
	if c == nil {
		return Decode(r)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stored != nil && c.stored.Version == r.Version && c.stored.Revision == r.UpdateRevision {
		return c.stored, nil
	}
	st, err := Decode(r)
	if err != nil {
		return nil, err
	}
	c.stored, c.rendered = st, map[bool][]byte{}
	return st, nil
}

// Render returns st's YAML, secrets redacted or not, from the cache when st
// is the cached config. Callers must not modify the returned bytes.
func (c *Cache) Render(st *Stored, redact bool) ([]byte, error) {
	if c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.stored == st {
			if doc, ok := c.rendered[redact]; ok {
				return doc, nil
			}
		}
	}
	doc, err := st.Config.Marshal(redact)
	if err != nil {
		return nil, err
	}
	if c != nil && c.stored == st {
		c.rendered[redact] = doc
	}
	return doc, nil
}

// Decode turns a stored config resource (from Get or a Watch event) into a
// Stored.
func Decode(r consensus.Resource) (*Stored, error) {
	c, err := config.Parse(r.Spec)
	if err != nil {
		return nil, fmt.Errorf("stored cluster config at revision %d does not parse: %w", r.UpdateRevision, err)
	}
	return &Stored{Config: c, Raw: r.Spec, Revision: r.UpdateRevision, Version: r.Version}, nil
}

// ApplyResult is the outcome of Apply.
type ApplyResult struct {
	Revision uint64
	Changed  bool
	// Diff is the redacted unified diff from the stored config to the new one.
	Diff   string
	DryRun bool
	// Duplicate is true when this request ID was applied before: Revision is
	// that write's, and Diff is empty (the stored config already holds it).
	Duplicate bool
	// Removed are the nodes the stored config lists and the new one does
	// not: applying it removes them from the cluster.
	Removed []string
}

// Apply validates doc and stores it. Secrets left redacted in doc (as
// `config get` prints them) keep their stored values. With expectedRevision
// non-zero, the write happens only if the stored config is still at that
// revision; otherwise it fails with *RevisionConflictError carrying the
// current one. Invalid input fails with *config.ValidationError listing
// every field, and nothing is stored. A dry run validates and diffs only.
func Apply(ctx context.Context, s Store, doc []byte, expectedRevision uint64, dryRun bool, requestID string) (ApplyResult, error) {
	return (*Cache)(nil).Apply(ctx, s, doc, expectedRevision, dryRun, requestID)
}

// Apply is the package-level Apply with the stored side taken from the
// cache: an unchanged stored config is neither decoded nor rendered again.
// doc is parsed once; the diff works on the parsed configs, with the stored
// side's redacted rendering from the cache.
func (c *Cache) Apply(ctx context.Context, s Store, doc []byte, expectedRevision uint64, dryRun bool, requestID string) (ApplyResult, error) {
	cur, err := c.Get(ctx, s, consensus.Linearizable)
	if err != nil {
		return ApplyResult{}, err
	}
	next, err := config.Parse(doc)
	if err != nil {
		return ApplyResult{}, err
	}
	next.RestoreSecrets(cur.Config)
	if err := next.Validate(); err != nil {
		return ApplyResult{}, err
	}
	if err := checkImmutable(cur.Config, next); err != nil {
		return ApplyResult{}, err
	}
	raw := config.Canonical(next)
	// A retry of a write that already happened (its first attempt ended with
	// an unknown outcome) must get that write's answer. The recorded outcome
	// is checked before the expected revision, which that very write moved.
	if !dryRun {
		w, done, err := s.RecallUpdate(ctx, requestID, ResourceType, ResourceID, raw)
		if err != nil {
			return ApplyResult{}, err
		}
		if done {
			return ApplyResult{Revision: w.Revision, Changed: true, Duplicate: true}, nil
		}
	}
	if expectedRevision != 0 && expectedRevision != cur.Revision {
		return ApplyResult{}, &RevisionConflictError{Expected: expectedRevision, Current: cur.Revision}
	}
	res := ApplyResult{
		Revision: cur.Revision,
		Changed:  string(raw) != string(cur.Raw),
		DryRun:   dryRun,
		Removed:  removedNodes(cur.Config, next),
	}
	if res.Changed {
		if res.Diff, err = c.diff(cur, next); err != nil {
			return ApplyResult{}, err
		}
	}
	if dryRun || !res.Changed {
		return res, nil
	}
	var opts []consensus.WriteOption
	if requestID != "" {
		opts = append(opts, consensus.WithRequestID(requestID))
	}
	// Compare-and-set on the version read above: a concurrent apply between
	// the read and this write is a conflict, never a lost update.
	w, err := s.Update(ctx, ResourceType, ResourceID, raw, cur.Version, opts...)
	var ce *consensus.ConflictError
	if errors.As(err, &ce) {
		now, gerr := c.Get(ctx, s, consensus.Linearizable)
		if gerr != nil {
			return ApplyResult{}, gerr
		}
		return ApplyResult{}, &RevisionConflictError{Expected: cur.Revision, Current: now.Revision}
	}
	if err != nil {
		return ApplyResult{}, err
	}
	res.Revision = w.Revision
	return res, nil
}

// diff is the redacted diff from the stored config to next, the stored
// side rendered once per stored version (GetConfig serves the same bytes).
func (c *Cache) diff(cur *Stored, next *config.Config) (string, error) {
	view, err := c.Render(cur, true)
	if err != nil {
		return "", err
	}
	return config.DiffParsed(cur.Config, view, next)
}

// removedNodes lists, in config order, the nodes of cur that next drops.
func removedNodes(cur, next *config.Config) []string {
	keep := map[string]bool{}
	for _, n := range next.Nodes {
		keep[n.Name] = true
	}
	var out []string
	for _, n := range cur.Nodes {
		if !keep[n.Name] {
			out = append(out, n.Name)
		}
	}
	return out
}

// checkImmutable refuses changes that would split the cluster: its identity
// binds the gossip label, and the CA and join token cannot be swapped by an
// apply (the gossip key can: see docs/security.md, "Rotating the gossip key").
func checkImmutable(cur, next *config.Config) error {
	var vs []config.Violation
	if next.Cluster.ID != cur.Cluster.ID {
		vs = append(vs, config.Violation{Field: "cluster.id", Message: "cannot be changed: it binds gossip to this cluster"})
	}
	if next.Cluster.Name != cur.Cluster.Name {
		vs = append(vs, config.Violation{Field: "cluster.name", Message: "cannot be changed on a running cluster"})
	}
	// The gossip key may change: it is the last step of a rotation
	// (cairnctl gossip rotate-key), after every node uses the new key.
	if next.Secrets.JoinToken != cur.Secrets.JoinToken || next.Secrets.CA != cur.Secrets.CA {
		vs = append(vs, config.Violation{Field: "secrets", Message: "the join token and the CA cannot be changed by apply"})
	}
	// A config from before the etcd CA existed may gain one (cairnctl gen
	// etcd-ca); once set it is fixed, since every etcd member and client
	// certificate chains to it.
	if cur.Secrets.EtcdCA != (config.CertKeyPair{}) && next.Secrets.EtcdCA != cur.Secrets.EtcdCA {
		vs = append(vs, config.Violation{Field: "secrets.etcdCA", Message: "cannot be changed by apply once set: etcd's members and clients are certified by it"})
	}
	// The same rule for Kubernetes' secrets: a config from before them (or
	// with Kubernetes disabled) may gain them; once set, every kubelet and
	// component certificate chains to the CAs and every service account
	// token is signed by the key.
	cs, ns := &cur.Secrets, &next.Secrets
	if cs.KubernetesCA != (config.CertKeyPair{}) && ns.KubernetesCA != cs.KubernetesCA {
		vs = append(vs, config.Violation{Field: "secrets.kubernetesCA", Message: "cannot be changed by apply once set: kube-apiserver and every kubelet and component are certified by it"})
	}
	if cs.FrontProxyCA != (config.CertKeyPair{}) && ns.FrontProxyCA != cs.FrontProxyCA {
		vs = append(vs, config.Violation{Field: "secrets.frontProxyCA", Message: "cannot be changed by apply once set: extension API servers trust the front proxy through it"})
	}
	if cs.ServiceAccountKey != "" && ns.ServiceAccountKey != cs.ServiceAccountKey {
		vs = append(vs, config.Violation{Field: "secrets.serviceAccountKey", Message: "cannot be changed by apply once set: every service account token issued would stop verifying"})
	}
	if len(vs) == 0 {
		return nil
	}
	return &config.ValidationError{Violations: vs}
}
