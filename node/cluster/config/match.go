package config

import (
	"fmt"
	"net"
	"strings"
)

// NodeFor returns the entry of the machine with the given node name, hardware
// addresses and boot-time hostname. Match stages run in order — node name
// (match.name, or the entry's name), then MAC (match.mac against any of macs),
// then hostname (match.hostname, case-insensitive) — and the first stage with
// any match decides: exactly one entry is returned, more than one is
// ErrAmbiguousMatch, and no match in any stage is ErrNoMatch. Empty inputs skip
// their stage. The returned pointer points into c.Nodes.
func (c *Config) NodeFor(name string, macs []string, hostname string) (*Node, error) {
	stages := []struct {
		what  string
		value string
		match func(*Node) bool
	}{
		{"name", name, func(n *Node) bool { return name != "" && n.MatchName() == name }},
		{"MAC", strings.Join(macs, ","), func(n *Node) bool { return macMatches(n.Match.MAC, macs) }},
		{"hostname", hostname, func(n *Node) bool {
			return hostname != "" && n.Match.Hostname != "" && strings.EqualFold(n.Match.Hostname, hostname)
		}},
	}
	for _, st := range stages {
		var found []int
		for i := range c.Nodes {
			if st.match(&c.Nodes[i]) {
				found = append(found, i)
			}
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return &c.Nodes[found[0]], nil
		default:
			names := make([]string, len(found))
			for k, i := range found {
				names[k] = fmt.Sprintf("nodes[%d] (%s)", i, c.Nodes[i].Name)
			}
			return nil, fmt.Errorf("%w: %s %q matches %s", ErrAmbiguousMatch, st.what, st.value, strings.Join(names, ", "))
		}
	}
	return nil, fmt.Errorf("%w: name %q, MACs [%s], hostname %q", ErrNoMatch, name, strings.Join(macs, " "), hostname)
}

// macMatches compares hardware addresses in canonical form, so case and
// separators do not matter.
func macMatches(want string, have []string) bool {
	if want == "" {
		return false
	}
	w, err := net.ParseMAC(want)
	if err != nil {
		return false
	}
	for _, h := range have {
		if m, err := net.ParseMAC(h); err == nil && m.String() == w.String() {
			return true
		}
	}
	return false
}
