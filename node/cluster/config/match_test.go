package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNodeFor(t *testing.T) {
	c := fixture(t)
	c.Nodes[1].Match = Match{Name: "second", MAC: "52:54:00:00:00:02"}
	c.Nodes[2].Match = Match{MAC: "52:54:00:00:00:03", Hostname: "Box-3"}
	c.Nodes[3].Match = Match{Hostname: "box-4"}
	require.NoError(t, c.Validate())

	tests := []struct {
		name     string
		nodeName string
		macs     []string
		hostname string
		want     string // node name; empty means ErrNoMatch
	}{
		{"by entry name", "cp1", nil, "", "cp1"},
		{"by match.name", "second", nil, "", "cp2"},
		{"match.name replaces the entry name", "cp2", nil, "", ""},
		{"by MAC, case and separators ignored", "", []string{"aa:bb:cc:dd:ee:ff", "52-54-00-00-00-03"}, "", "cp3"},
		{"by MAC upper case", "", []string{"52:54:00:00:00:02"}, "", "cp2"},
		{"by hostname, case-insensitive", "", nil, "BOX-4", "worker1"},
		{"name wins over MAC", "cp1", []string{"52:54:00:00:00:03"}, "", "cp1"},
		{"MAC wins over hostname", "", []string{"52:54:00:00:00:03"}, "box-4", "cp3"},
		{"unknown name falls through to MAC", "nobody", []string{"52:54:00:00:00:02"}, "", "cp2"},
		{"nothing matches", "nobody", []string{"00:00:00:00:00:01", "garbage"}, "elsewhere", ""},
		{"no inputs", "", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := c.NodeFor(tt.nodeName, tt.macs, tt.hostname)
			if tt.want == "" {
				require.ErrorIs(t, err, ErrNoMatch)
				assert.Nil(t, n)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, n.Name)
			assert.Same(t, n, &c.Nodes[indexOf(c, tt.want)], "NodeFor points into the config")
		})
	}
}

func TestNodeForAmbiguous(t *testing.T) {
	// Validate rejects these documents; NodeFor must still refuse to guess.
	c := fixture(t)
	c.Nodes[0].Match.MAC = "52:54:00:00:00:09"
	c.Nodes[4].Match.MAC = "52:54:00:00:00:09"
	_, err := c.NodeFor("", []string{"52:54:00:00:00:09"}, "")
	require.ErrorIs(t, err, ErrAmbiguousMatch)
	assert.Contains(t, err.Error(), "nodes[0] (cp1), nodes[4] (worker2)")

	c.Nodes[2].Match.Name = "cp1"
	_, err = c.NodeFor("cp1", nil, "")
	require.ErrorIs(t, err, ErrAmbiguousMatch)
}

func indexOf(c *Config, name string) int {
	for i := range c.Nodes {
		if c.Nodes[i].Name == name {
			return i
		}
	}
	return -1
}
