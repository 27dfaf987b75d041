package cfgstore

import (
	"fmt"
	"testing"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// BenchmarkApply measures the leader's ApplyConfig path on a real
// single-voter Raft store: a dry run (parse, restore secrets, validate,
// diff) and a real apply (the same plus a Raft commit), through a Cache as
// node/api calls it. Each iteration alternates between two documents so
// every real apply writes. nodes is the size of the cluster described by
// the document.
func BenchmarkApply(b *testing.B) {
	for _, nodes := range []int{4, 200} {
		s := newStore(b)
		c, err := config.Generate(config.GenerateOptions{ClusterName: "bench", ControlPlanes: 3, Workers: nodes - 3})
		if err != nil {
			b.Fatal(err)
		}
		if err := Seed(ctx(b), s, c); err != nil {
			b.Fatal(err)
		}
		docs := [2][]byte{
			redacted(b, c, func(c *config.Config) { c.Cluster.Kubernetes.Version = "1.38.0" }),
			redacted(b, c, func(c *config.Config) { c.Cluster.Kubernetes.Version = "1.38.1" }),
		}
		cache := &Cache{}
		b.Run(fmt.Sprintf("nodes=%d/dry-run", nodes), func(b *testing.B) {
			b.SetBytes(int64(len(docs[0])))
			cx := ctx(b)
			for i := 0; b.Loop(); i++ {
				if _, err := cache.Apply(cx, s, docs[i%2], 0, true, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("nodes=%d/apply", nodes), func(b *testing.B) {
			b.SetBytes(int64(len(docs[0])))
			cx := ctx(b)
			for i := 0; b.Loop(); i++ {
				res, err := cache.Apply(cx, s, docs[i%2], 0, false, fmt.Sprintf("bench-%d-%d", nodes, i))
				if err != nil {
					b.Fatal(err)
				}
				if !res.Changed {
					b.Fatal("apply did not change the config")
				}
			}
		})
	}
}
