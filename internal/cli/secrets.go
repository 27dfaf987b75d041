package cli

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// loadSecrets reads the secrets, and the cluster ID if present, from a whole
// cluster.yaml or from a YAML document holding only the secrets section
// (gossipKey, joinToken, ca, etcdCA and Kubernetes' CAs and key). It refuses
// redacted secrets, which could only produce an invalid configuration.
func loadSecrets(path string) (*config.Secrets, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("read secrets: %w", err)
	}
	var whole struct {
		Cluster struct {
			ID string `json:"id"`
		} `json:"cluster"`
		Secrets *config.Secrets `json:"secrets"`
	}
	if err := yaml.Unmarshal(data, &whole); err != nil {
		return nil, "", fmt.Errorf("parse %s: %w", path, err)
	}
	s := whole.Secrets
	if s == nil {
		s = new(config.Secrets)
		if err := yaml.UnmarshalStrict(data, s); err != nil {
			return nil, "", fmt.Errorf("parse %s: neither a cluster config nor a secrets document: %w", path, err)
		}
	}
	if s.GossipKey == "" && s.JoinToken == "" && s.CA.Key == "" {
		return nil, "", fmt.Errorf("%w: %s holds no secrets", ErrUsage, path)
	}
	for _, v := range []string{s.GossipKey, s.JoinToken, s.CA.Key, s.EtcdCA.Key, s.KubernetesCA.Key, s.FrontProxyCA.Key, s.ServiceAccountKey} {
		if strings.Contains(v, config.Redacted) {
			return nil, "", fmt.Errorf("%w: the secrets in %s are redacted; use the original cluster.yaml or 'cairnctl config get --include-secrets'", ErrUsage, path)
		}
	}
	return s, whole.Cluster.ID, nil
}
