package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildHasTheClusterDNSPlugins builds the binary as `make coredns`
// does (static) and asks it for its plugins: the ones Cairn's Corefile
// uses are in, upstream's others (cloud providers, etcd) are not, and it
// needs no dynamic loader (the image is FROM scratch).
func TestBuildHasTheClusterDNSPlugins(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "coredns")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("coredns needs a dynamic loader")
		}
	}
	_ = f.Close()
	out, err := exec.Command(bin, "-plugins").CombinedOutput()
	if err != nil {
		t.Fatalf("coredns -plugins: %v\n%s", err, out)
	}
	have := map[string]bool{}
	// One plugin per line (older releases prefixed the server type, "dns.").
	for _, line := range strings.Split(string(out), "\n") {
		if name := strings.TrimPrefix(strings.TrimSpace(line), "dns."); name != "" && !strings.HasSuffix(name, ":") {
			have[name] = true
		}
	}
	for _, want := range directives {
		if !have[want] {
			t.Errorf("plugin %s is missing from:\n%s", want, out)
		}
	}
	for _, not := range []string{"route53", "etcd", "azure", "clouddns"} {
		if have[not] {
			t.Errorf("plugin %s is compiled in; only the Corefile's should be", not)
		}
	}
	out, err = exec.Command(bin, "-version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "CoreDNS-1.15.0") {
		t.Errorf("coredns -version: %v %s (want the go.mod pin, 1.15.0)", err, out)
	}
}
