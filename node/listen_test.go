package node

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestListenAddr(t *testing.T) {
	assert.Equal(t, "127.0.10.2:6440", listenAddr("127.0.10.2:6440", false))
	assert.Equal(t, ":6440", listenAddr("10.5.0.2:6440", true))
	assert.Equal(t, ":6440", listenAddr("[fd00::2]:6440", true))
}
