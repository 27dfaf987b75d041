package config

// This file generates docs/config-schema.json (TestSchemaUpToDate): the
// schema is a build artifact checked in and kept fresh by the test, not
// something cairnd computes, so the reflection and the reading of
// types.go's comments happen at test time only.

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/invopop/jsonschema"
	"github.com/stretchr/testify/require"
)

// SchemaID is the $id of the generated JSON schema.
const SchemaID = "https://cairn.dev/schemas/cairn.dev/v1alpha1/clusterconfig.json"

// schemaExtras adds constraints and examples that Go types cannot express,
// keyed by "Type.Field". Patterns come from the regexps Validate uses.
var schemaExtras = map[string]map[string]any{
	"Config.APIVersion":             {"const": APIVersion},
	"Config.Kind":                   {"const": Kind},
	"Cluster.Name":                  {"pattern": dnsLabelRE.String(), "maxLength": 63, "examples": []any{"demo"}},
	"Cluster.ID":                    {"pattern": clusterIDRE.String(), "examples": []any{"3f9c2a7b1e4d8f60a5b2c9d7e1f04a3b"}},
	"Cluster.Seeds":                 {"examples": []any{[]any{"10.5.0.2:6441", "10.5.0.3:6441"}}},
	"ControlPlane.Expect":           {"minimum": 1, "examples": []any{3}},
	"ClusterNetwork.PodCIDR":        {"examples": []any{DefaultPodCIDR}},
	"ClusterNetwork.ServiceCIDR":    {"examples": []any{DefaultServiceCIDR}},
	"ClusterNetwork.DNSDomain":      {"maxLength": 253, "examples": []any{DefaultDNSDomain}},
	"Kubernetes.Version":            {"pattern": kubeVersionRE.String(), "examples": []any{DefaultKubernetesVersion}},
	"Kubernetes.Disabled":           {"examples": []any{true}},
	"Kubernetes.Endpoint":           {"examples": []any{"https://k8s.example.com:6443"}},
	"Kubernetes.CertSANs":           {"examples": []any{[]any{"k8s.example.com", "192.0.2.10"}}},
	"KubernetesComponent.ExtraArgs": {"examples": []any{map[string]any{"v": "2"}}},
	"Kubelet.ExtraArgs":             {"examples": []any{map[string]any{"v": "2"}}},
	"Kubelet.MaxPods":               {"minimum": 1, "maximum": MaxKubeletMaxPods, "examples": []any{250}},
	"Kubelet.NodeLabels":            {"examples": []any{map[string]any{"example.com/rack": "r1", "topology.kubernetes.io/zone": "zone-a"}}},
	"Secrets.ServiceAccountKey":     {"examples": []any{"-----BEGIN PRIVATE KEY-----\nMIGH…\n-----END PRIVATE KEY-----\n"}},
	"Secrets.GossipKey":             {"examples": []any{"q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8M="}},
	"Secrets.JoinToken":             {"pattern": joinTokenRE.String(), "examples": []any{"abcdef.0123456789abcdef"}},
	"CertKeyPair.Crt":               {"examples": []any{"-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----\n"}},
	"CertKeyPair.Key":               {"examples": []any{"-----BEGIN PRIVATE KEY-----\nMIGH…\n-----END PRIVATE KEY-----\n"}},
	"Node.Name":                     {"pattern": dnsLabelRE.String(), "maxLength": 63, "examples": []any{"cp1"}},
	"Node.Role":                     {"enum": []any{string(RoleControlPlane), string(RoleWorker)}, "examples": []any{"controlplane"}},
	"Node.APIAddress":               {"examples": []any{"10.5.0.2:6440"}},
	"Node.GossipAddress":            {"examples": []any{"10.5.0.2:6441"}},
	"Node.RaftAddress":              {"examples": []any{"10.5.0.2:6442"}},
	"KernelModule.Name":             {"pattern": moduleNameRE.String(), "examples": []any{"br_netfilter"}},
	"NodeKernel.Sysctls":            {"examples": []any{map[string]any{"net.ipv4.ip_forward": "1"}}},
	"Etcd.ExtraArgs":                {"examples": []any{map[string]any{"quota-backend-bytes": "8589934592"}}},
	"Node.CertSANs":                 {"examples": []any{[]any{"127.0.10.2"}}},
	"StateDisk.Path":                {"examples": []any{"/dev/vda"}},
	"StateDisk.Serial":              {"examples": []any{"cairn-state-cp1"}},
	"StateDisk.Model":               {"examples": []any{"QEMU HARDDISK"}},
	"StateDisk.MinSize":             {"examples": []any{"1GiB"}},
	"StateDisk.MaxSize":             {"examples": []any{"2TiB"}},
	"Match.Name":                    {"pattern": dnsLabelRE.String(), "maxLength": 63, "examples": []any{"cp1"}},
	"Match.MAC":                     {"examples": []any{"52:54:00:12:34:56"}},
	"Match.Hostname":                {"maxLength": 253, "examples": []any{"talos-abc-123"}},
	"NodeNetwork.Hostname":          {"maxLength": 253, "examples": []any{"cp1"}},
	"Link.Name":                     {"minLength": 1, "maxLength": maxLinkName, "examples": []any{"eth0"}},
	"Link.Up":                       {"examples": []any{true}},
	"Link.MTU":                      {"minimum": minMTU, "maximum": maxMTU, "examples": []any{1500}},
	"Address.Link":                  {"examples": []any{"eth0"}},
	"Address.CIDR":                  {"examples": []any{"10.5.0.2/24"}},
	"Route.Link":                    {"examples": []any{"eth0"}},
	"Route.Dst":                     {"examples": []any{"0.0.0.0/0"}},
	"Route.Gateway":                 {"examples": []any{"10.5.0.1"}},
	"Route.Metric":                  {"examples": []any{100}},
}

// secretNote is appended to the description of every secret field.
const secretNote = "Secret: shown as \"" + Redacted + "\" unless secrets are asked for."

// configPackage is the import path under which AddGoComments files the
// comments of this directory.
const configPackage = "github.com/cairn-project/cairn/node/cluster/config"

// typeDocs maps "Type" and "Type.Field" to the doc comments in this
// package, as github.com/invopop/jsonschema reads them, with the lines of
// each paragraph joined by spaces.
func typeDocs(t testing.TB) map[string]string {
	t.Helper()
	r := &jsonschema.Reflector{}
	require.NoError(t, r.AddGoComments(configPackage, "./", jsonschema.WithFullComment()))
	docs := map[string]string{}
	for k, v := range r.CommentMap {
		if name, ok := strings.CutPrefix(k, configPackage+"."); ok {
			docs[name] = joinParagraphs(v)
		}
	}
	return docs
}

func joinParagraphs(s string) string {
	var paras []string
	for p := range strings.SplitSeq(strings.TrimSpace(s), "\n\n") {
		paras = append(paras, strings.Join(strings.Fields(p), " "))
	}
	return strings.Join(paras, "\n\n")
}

// generateSchema returns the JSON Schema (draft 2020-12) of the document:
// github.com/invopop/jsonschema reflects Config (field order, $defs,
// additionalProperties false) with descriptions from the doc comments;
// then each property gets what Go types cannot say — schemaExtras, the
// secret note, integer bounds — and required lists from structFields,
// which knows omitzero. The output ends with a newline.
func generateSchema(t testing.TB) []byte {
	t.Helper()
	docs := typeDocs(t)
	r := &jsonschema.Reflector{
		ExpandedStruct: true,
		LookupComment: func(typ reflect.Type, field string) string {
			if field == "" {
				return docs[typ.Name()]
			}
			return docs[typ.Name()+"."+field]
		},
	}
	root := r.Reflect(&Config{})
	root.ID = jsonschema.ID(SchemaID)
	root.Title = "Cairn cluster configuration (" + APIVersion + " " + Kind + ")"
	decorate(t, root, reflect.TypeFor[Config](), root.Definitions, map[string]bool{})

	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(root))
	return out.Bytes()
}

// decorate completes the schema s of struct type typ and, through defs,
// of every struct type it uses.
func decorate(t testing.TB, s *jsonschema.Schema, typ reflect.Type, defs jsonschema.Definitions, done map[string]bool) {
	s.Required = nil
	for _, f := range structFields(typ) {
		key := typ.Name() + "." + f.field.Name
		p, ok := s.Properties.Get(f.name)
		require.True(t, ok, "no schema property for %s", key)
		if f.secret {
			p.Description = strings.TrimSpace(p.Description + " " + secretNote)
		}
		for k, v := range schemaExtras[key] {
			if p.Extras == nil {
				p.Extras = map[string]any{}
			}
			p.Extras[k] = v
		}
		if !f.optional {
			s.Required = append(s.Required, f.name)
		}
		ft := f.field.Type
		item := p
		if ft.Kind() == reflect.Slice {
			ft, item = ft.Elem(), p.Items
		}
		switch ft.Kind() {
		case reflect.Struct:
			def, ok := defs[ft.Name()]
			require.True(t, ok, "no $defs entry for %s", ft.Name())
			if !done[ft.Name()] {
				done[ft.Name()] = true
				decorate(t, def, ft, defs, done)
			}
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			item.Minimum = "0"
			item.Maximum = json.Number(strconv.FormatUint(uint64(math.MaxUint64)>>(64-ft.Bits()), 10))
		}
	}
}

// encodeJSON writes v without HTML escaping and without the trailing newline
// json.Encoder adds.
func encodeJSON(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1)
	return nil
}
