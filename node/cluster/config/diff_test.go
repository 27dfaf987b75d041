package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnifiedDiffLines(t *testing.T) {
	lines := func(s string) []string { return strings.Split(s, " ") }
	tests := []struct {
		name string
		a, b []string
		want string
	}{
		{
			name: "one replaced line",
			a:    lines("1 2 3 4 5 6 7 8 9"),
			b:    lines("1 2 3 4 X 6 7 8 9"),
			want: "--- old\n+++ new\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+X\n 6\n 7\n 8\n",
		},
		{
			name: "far-apart changes make two hunks",
			a:    lines("a 1 2 3 4 5 6 7 8 9 b"),
			b:    lines("A 1 2 3 4 5 6 7 8 9 B"),
			want: "--- old\n+++ new\n@@ -1,4 +1,4 @@\n-a\n+A\n 1\n 2\n 3\n@@ -8,4 +8,4 @@\n 7\n 8\n 9\n-b\n+B\n",
		},
		{
			name: "changes six lines apart share a hunk",
			a:    lines("a 1 2 3 4 5 6 b"),
			b:    lines("A 1 2 3 4 5 6 B"),
			want: "--- old\n+++ new\n@@ -1,8 +1,8 @@\n-a\n+A\n 1\n 2\n 3\n 4\n 5\n 6\n-b\n+B\n",
		},
		{
			name: "insertion into an empty file",
			a:    nil,
			b:    lines("x y"),
			want: "--- old\n+++ new\n@@ -0,0 +1,2 @@\n+x\n+y\n",
		},
		{
			name: "deletion at the end",
			a:    lines("1 2 3 4 5"),
			b:    lines("1 2 3 4"),
			want: "--- old\n+++ new\n@@ -2,4 +2,3 @@\n 2\n 3\n 4\n-5\n",
		},
		{
			name: "moved line",
			a:    lines("a b c d"),
			b:    lines("b c d a"),
			want: "--- old\n+++ new\n@@ -1,4 +1,4 @@\n-a\n b\n c\n d\n+a\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := unifiedDiff(tt.a, tt.b)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.b, applyDiff(t, tt.a, got), "the diff must turn a into b")
		})
	}
}

// applyDiff applies a unified diff produced by unifiedDiff to a.
func applyDiff(t *testing.T, a []string, diff string) []string {
	t.Helper()
	var out []string
	pos := 0
	for _, l := range strings.Split(strings.TrimSuffix(diff, "\n"), "\n")[2:] {
		switch {
		case strings.HasPrefix(l, "@@"):
			var oldStart, oldLen, newStart, newLen int
			parseHunkHeader(t, l, &oldStart, &oldLen, &newStart, &newLen)
			if oldLen == 0 {
				oldStart++
			}
			out = append(out, a[pos:oldStart-1]...)
			pos = oldStart - 1
		case l[0] == ' ':
			require.Equal(t, a[pos], l[1:])
			out = append(out, l[1:])
			pos++
		case l[0] == '-':
			require.Equal(t, a[pos], l[1:])
			pos++
		case l[0] == '+':
			out = append(out, l[1:])
		}
	}
	return append(out, a[pos:]...)
}

func parseHunkHeader(t *testing.T, h string, os, ol, ns, nl *int) {
	t.Helper()
	f := strings.Fields(h)
	parse := func(s string, start, length *int) {
		*length = 1
		nums := strings.Split(s[1:], ",")
		*start = atoi(t, nums[0])
		if len(nums) == 2 {
			*length = atoi(t, nums[1])
		}
	}
	parse(f[1], os, ol)
	parse(f[2], ns, nl)
}

func atoi(t *testing.T, s string) int {
	n := 0
	for _, r := range s {
		require.True(t, r >= '0' && r <= '9', s)
		n = n*10 + int(r-'0')
	}
	return n
}

// A large script with changes everywhere goes past the bounded search of
// the diff algorithm; the diff must still turn a into b.
func TestUnifiedDiffLargeAndScattered(t *testing.T) {
	var a, b []string
	for i := range 5000 {
		l := fmt.Sprintf("line %d", i)
		a = append(a, l)
		switch i % 7 {
		case 0:
			b = append(b, l+" changed")
		case 3:
			// deleted
		default:
			b = append(b, l)
		}
	}
	b = append(b, "appended")
	got := unifiedDiff(a, b)
	assert.Equal(t, b, applyDiff(t, a, got))
}

func TestDiffConfigs(t *testing.T) {
	old := fixture(t)
	upd := fixture(t)
	upd.Cluster.Kubernetes.Version = "1.38.0"
	upd.Nodes[4].Network.Links[0].MTU = 9000

	got := Diff(mustMarshal(t, old, false), mustMarshal(t, upd, false))
	want := `--- old
+++ new
@@ -10,7 +10,7 @@
     serviceCIDR: 10.96.0.0/12
     dnsDomain: cluster.local
   kubernetes:
-    version: 1.37.2
+    version: 1.38.0
   seeds:
   - 10.5.0.2:6441
   - 10.5.0.3:6441
@@ -141,7 +141,7 @@
     links:
     - name: eth0
       up: true
-      mtu: 1500
+      mtu: 9000
     addresses:
     - link: eth0
       cidr: 10.5.0.6/24
`
	assert.Equal(t, want, got)
	assert.Equal(t, got, Diff(mustMarshal(t, old, false), mustMarshal(t, upd, false)), "deterministic")
	assertNoSecrets(t, got, old.Secrets)
}

func TestDiffIgnoresFormatting(t *testing.T) {
	c := fixture(t)
	doc := mustMarshal(t, c, false)
	commented := append([]byte("# edited by hand\n"), doc...)
	assert.Empty(t, Diff(doc, commented))
	assert.Empty(t, Diff(doc, doc))
}

func TestDiffWithInvalidSide(t *testing.T) {
	c := fixture(t)
	doc := mustMarshal(t, c, false)
	typo := strings.Replace(string(doc), "  dnsDomain:", "  dnsDomian:", 1)
	d := Diff(doc, []byte(typo))
	assert.Contains(t, d, "+    dnsDomian: cluster.local")
	assertNoSecrets(t, d, c.Secrets)

	d = Diff(doc, []byte("{ not yaml"))
	assert.Contains(t, d, "+# document is not valid YAML")
	assertNoSecrets(t, d, c.Secrets)
}

// DiffParsed, given the old side's redacted rendering as a cache holds it,
// is exactly Diff of the two documents, and leaves both configs as they were.
func TestDiffParsedMatchesDiff(t *testing.T) {
	old := fixture(t)
	next := fixture(t)
	next.Cluster.Kubernetes.Version = "1.38.0"
	next.Secrets.GossipKey = "bmV3IGdvc3NpcCBrZXkgbmV3IGdvc3NpcCBrZXkgISE="
	before, beforeNext := Canonical(old), Canonical(next)
	view, err := old.Marshal(true)
	require.NoError(t, err)

	got, err := DiffParsed(old, view, next)
	require.NoError(t, err)
	assert.Equal(t, Diff(before, beforeNext), got)
	assert.Contains(t, got, "+  gossipKey: '"+RedactedChanged+"'")
	assert.Equal(t, before, Canonical(old))
	assert.Equal(t, beforeNext, Canonical(next), "the redacted view must not modify the config")
}
