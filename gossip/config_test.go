package gossip

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func validConfig() Config {
	cfg := TestConfig()
	cfg.Name, cfg.ClusterID, cfg.Key, cfg.Meta = "cp-1", "c1", testKey("a"), testMeta("cp-1")
	return cfg
}

func TestProfilesAreValid(t *testing.T) {
	for name, profile := range map[string]func() Config{"default": DefaultConfig, "test": TestConfig} {
		t.Run(name, func(t *testing.T) {
			cfg := profile()
			cfg.Name, cfg.ClusterID, cfg.Key, cfg.Meta = "cp-1", "c1", testKey("a"), testMeta("cp-1")
			require.NoError(t, cfg.Validate())
		})
	}
	require.Equal(t, DefaultPort, DefaultConfig().BindPort)
}

func TestConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*Config)
		want   error
	}{
		"no name":         {func(c *Config) { c.Name = "" }, ErrInvalidConfig},
		"name with space": {func(c *Config) { c.Name = "cp 1" }, ErrInvalidConfig},
		"no cluster ID":   {func(c *Config) { c.ClusterID = "" }, ErrInvalidConfig},
		"short key":       {func(c *Config) { c.Key = c.Key[:16] }, ErrInvalidKey},
		"bad role":        {func(c *Config) { c.Meta.Role = "" }, ErrInvalidMeta},
		"bad bind addr":   {func(c *Config) { c.BindAddr = "localhost" }, ErrInvalidConfig},
		"zero interval":   {func(c *Config) { c.ProbeInterval = 0 }, ErrInvalidConfig},
		"slow probe":      {func(c *Config) { c.ProbeTimeout = 2 * c.ProbeInterval }, ErrInvalidConfig},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := validConfig()
			tc.mutate(&cfg)
			require.ErrorIs(t, cfg.Validate(), tc.want)
			_, err := New(cfg)
			require.ErrorIs(t, err, tc.want)
		})
	}
}

// TestFailureDetectionTime pins the numbers DESIGN.md quotes.
func TestFailureDetectionTime(t *testing.T) {
	def, test := DefaultConfig(), TestConfig()
	require.Equal(t, 4*time.Second, def.SuspicionTimeout(5))
	require.Equal(t, 28*time.Second, def.FailureDetectionTime(5))
	require.Equal(t, 8*time.Second, def.SuspicionTimeout(100))
	require.Equal(t, 1200*time.Millisecond, test.SuspicionTimeout(5))
	require.Equal(t, 4*time.Second, test.FailureDetectionTime(5))
}
