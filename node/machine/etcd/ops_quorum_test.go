package etcd

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The quorum rule of Leave and RemoveMember, over member healths: n-1
// voters left need (n-1)/2+1 healthy ones; learners never count.
func TestCheckRemovable(t *testing.T) {
	voter := func(id uint64, healthy bool) memberHealth {
		return memberHealth{MemberInfo: MemberInfo{ID: id, ClientURLs: []string{"https://x:2379"}}, healthy: healthy}
	}
	learner := func(id uint64, healthy bool) memberHealth {
		m := voter(id, healthy)
		m.Learner = true
		return m
	}
	for name, tc := range map[string]struct {
		members []memberHealth
		remove  uint64
		err     error
		via     int
	}{
		"three healthy, one goes":          {[]memberHealth{voter(1, true), voter(2, true), voter(3, true)}, 1, nil, 2},
		"one down, a healthy one goes":     {[]memberHealth{voter(1, true), voter(2, true), voter(3, false)}, 1, ErrQuorum, 0},
		"one down, the down one goes":      {[]memberHealth{voter(1, true), voter(2, true), voter(3, false)}, 3, nil, 2},
		"five, two down, healthy goes":     {[]memberHealth{voter(1, true), voter(2, true), voter(3, true), voter(4, false), voter(5, false)}, 1, ErrQuorum, 0},
		"five, two down, a down one":       {[]memberHealth{voter(1, true), voter(2, true), voter(3, true), voter(4, false), voter(5, false)}, 5, nil, 3},
		"two, the other healthy":           {[]memberHealth{voter(1, true), voter(2, true)}, 1, nil, 1},
		"two, the other down":              {[]memberHealth{voter(1, true), voter(2, false)}, 1, ErrQuorum, 0},
		"the last voter":                   {[]memberHealth{voter(1, true), learner(2, true)}, 1, ErrLastMember, 0},
		"a learner, even with quorum gone": {[]memberHealth{voter(1, true), voter(2, false), voter(3, false), learner(4, true)}, 4, nil, 1},
		"learners do not make quorum":      {[]memberHealth{voter(1, true), voter(2, true), voter(3, false), learner(4, true)}, 2, ErrQuorum, 0},
		"unknown":                          {[]memberHealth{voter(1, true)}, 9, ErrUnknownMember, 0},
	} {
		t.Run(name, func(t *testing.T) {
			_, via, err := checkRemovable(tc.members, tc.remove)
			assert.ErrorIs(t, err, tc.err)
			if tc.err == nil {
				assert.NoError(t, err)
			}
			assert.Len(t, via, tc.via)
		})
	}
}
