package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// A static pod runs the component's image, never pulled, on the host's
// network with its files at the same path; its probes give a slow start
// ten minutes (a VM under TCG) before the liveness probe counts.
func TestStaticPod(t *testing.T) {
	raw, err := StaticPod(APIServer, []string{"--secure-port=6443"}, []string{"PATH=/x", "GODEBUG=a=1"}, "https://10.0.0.1:6443/readyz", "/var/lib/cairn/kubernetes")
	require.NoError(t, err)
	var pod struct {
		Spec struct {
			HostNetwork bool `json:"hostNetwork"`
			Containers  []struct {
				Image           string   `json:"image"`
				ImagePullPolicy string   `json:"imagePullPolicy"`
				Args            []string `json:"args"`
				Env             []struct{ Name, Value string }
				StartupProbe    struct {
					HTTPGet          struct{ Path, Host string } `json:"httpGet"`
					FailureThreshold int                         `json:"failureThreshold"`
					PeriodSeconds    int                         `json:"periodSeconds"`
				} `json:"startupProbe"`
				LivenessProbe struct {
					HTTPGet          struct{ Path string } `json:"httpGet"`
					FailureThreshold int                   `json:"failureThreshold"`
				} `json:"livenessProbe"`
			} `json:"containers"`
		} `json:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &pod), "%s", raw)
	require.Len(t, pod.Spec.Containers, 1)
	c := pod.Spec.Containers[0]
	assert.True(t, pod.Spec.HostNetwork)
	assert.Equal(t, ComponentImage(APIServer), c.Image)
	assert.Equal(t, "Never", c.ImagePullPolicy)
	assert.Equal(t, []string{"--secure-port=6443"}, c.Args)
	assert.Len(t, c.Env, 1, "PATH is the image's")
	assert.Equal(t, "/livez", c.StartupProbe.HTTPGet.Path, "alive, not ready")
	assert.Equal(t, "10.0.0.1", c.StartupProbe.HTTPGet.Host)
	assert.Equal(t, 600, c.StartupProbe.FailureThreshold*c.StartupProbe.PeriodSeconds, "ten minutes to start")
	assert.Equal(t, 8, c.LivenessProbe.FailureThreshold)

	_, err = StaticPod(APIServer, nil, nil, "http://10.0.0.1:6443/readyz", "/d")
	assert.ErrorIs(t, err, ErrBadInputs, "the probes speak HTTPS")
}
