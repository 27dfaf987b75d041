package formation

import "strings"

// RaftID is the Raft server ID of a node's state: its name, then "." and the
// state ID when it has one. The state ID is created with the node's state
// directory, so a node whose state was wiped (a replaced disk) comes back as
// a new server: Raft assumes a voter never forgets what it acknowledged, and
// a wiped voter under its old ID would break that (issue 9, item 10). Node
// names are DNS labels, so the "." is unambiguous. A node whose state
// predates state IDs keeps its bare name as ID.
func RaftID(name, stateID string) string {
	if stateID == "" {
		return name
	}
	return name + "." + stateID
}

// NodeName returns the node name of a Raft server ID.
func NodeName(raftID string) string {
	name, _, _ := strings.Cut(raftID, ".")
	return name
}
