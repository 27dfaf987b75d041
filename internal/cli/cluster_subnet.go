package cli

import (
	"fmt"
	"net"
	"strconv"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// The loopback subnets 127.0.N.0/24 cluster create picks from.
const (
	firstAutoSubnet = 10
	lastAutoSubnet  = 250
)

// pickSubnet returns the first N in [firstAutoSubnet, lastAutoSubnet] that
// is not reserved and that free reports free.
func pickSubnet(reserved map[int]bool, free func(n int) bool) (int, error) {
	for n := firstAutoSubnet; n <= lastAutoSubnet; n++ {
		if !reserved[n] && free(n) {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w in 127.0.%d.0/24-127.0.%d.0/24; pass --subnet", ErrNoFreeSubnet, firstAutoSubnet, lastAutoSubnet)
}

// subnetFree reports whether nothing listens on the node ports of the
// first nodes addresses of 127.0.n.0/24, by binding each briefly.
func subnetFree(n, nodes int) bool {
	for i := 1; i <= nodes; i++ {
		for _, port := range []int{config.DefaultAPIPort, config.DefaultGossipPort, config.DefaultRaftPort} {
			ln, err := net.Listen("tcp", net.JoinHostPort(fmt.Sprintf("127.0.%d.%d", n, i), strconv.Itoa(port)))
			if err != nil {
				return false
			}
			_ = ln.Close()
		}
	}
	return true
}
