package pki

import "errors"

var (
	// ErrBadCSR is returned by SignNode when the request does not parse,
	// its signature does not verify, or its name or addresses are unusable;
	// and by SignKubeletCSR when it asks for more than a kubelet client
	// certificate (SANs, extensions, other subject fields) or its key is
	// weak.
	ErrBadCSR = errors.New("bad certificate request")
	// ErrBadEtcdRequest is returned by IssueEtcdPeer and IssueEtcdServer for a
	// node that is not a control plane (only control planes run etcd), and by
	// IssueEtcdClient for an empty client name.
	ErrBadEtcdRequest = errors.New("bad etcd certificate request")
	// ErrBadKubeRequest is returned by the Kubernetes issuers for a node
	// that is not a control plane (IssueKubeAPIServer), an empty user or a
	// validity that is not positive (IssueKubeClient), a service range
	// without the asked-for address (KubeServiceIP), and a service account
	// key that does not parse (ServiceAccountPublicPEM).
	ErrBadKubeRequest = errors.New("bad kubernetes certificate request")
	// ErrKubeletIdentity is returned by SignKubeletCSR for a request whose
	// subject is not the kubelet of the node it is signed for: another
	// node's user, or groups other than exactly KubeNodesGroup.
	ErrKubeletIdentity = errors.New("certificate request is not this node's kubelet identity")
	// ErrBadToken is returned when a join token does not match the cluster's.
	ErrBadToken = errors.New("join token does not match")
	// ErrNoIdentity is returned when TLS is needed before an identity exists.
	ErrNoIdentity = errors.New("no node identity yet")
)
