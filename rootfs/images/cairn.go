package images

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The references Cairn's images are imported as. kubelet and containerd
// look an image up by reference before they would pull it, so these are
// exactly the names they ask for: no config override, no registry.
const (
	// PauseRef is the pod sandbox image: containerd v2.4.2's CRI default
	// (DefaultSandboxImage in internal/cri/config/config.go), which it
	// uses unless its config names another.
	PauseRef = "registry.k8s.io/pause:3.10.2"
	// EchoRepo is the test application's repository; its tag is the
	// Cairn version.
	EchoRepo = "cairn.local/echo"
	// KubeRegistry is where the Kubernetes component images are named
	// from: registry.k8s.io/kube-apiserver:v1.37.2 and so on.
	KubeRegistry = "registry.k8s.io"
	// KubeVersion is the Kubernetes version of the component images, the
	// k8s.io/kubernetes pin of tools/kube/go.mod (a test checks it).
	KubeVersion = "v1.37.2"
)

// Where the programs are in the images.
const (
	// PausePath is pause, the sandbox image's entrypoint (upstream's
	// path).
	PausePath = "/pause"
	// EchoPath is the test application, its image's entrypoint.
	EchoPath = "/usr/bin/cairn-echo"
	// KubePath is the Kubernetes multi-call binary (tools/kube) in every
	// component image; /usr/local/bin/COMPONENT links to it.
	KubePath = "/usr/local/bin/kube"
	// EchoPort is the port the test application listens on by default.
	EchoPort = 8080
)

// KubeComponents are the components that get an image of their own, for
// static pods (and kube-proxy's DaemonSet); kubelet runs on the host.
var KubeComponents = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"}

// The packages of our own programs, built by BuildProgram.
const (
	PausePackage = "github.com/cairn-project/cairn/rootfs/images/pause"
	EchoPackage  = "github.com/cairn-project/cairn/rootfs/images/echo"
)

// path is the search path of every image: the Kubernetes manifests name
// their command (kube-apiserver), which the runtime looks up in it.
const path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// nobody is the user of the images that need no privilege: upstream
// pause's 65535, the conventional nobody of distroless images.
const nobody = "65535:65535"

// Pause is the sandbox image of the static pause binary at bin (built from
// PausePackage).
func Pause(bin, version string) Spec {
	return Spec{
		Ref: PauseRef, Title: "pause", Version: version,
		Files:      map[string]File{PausePath: {Source: bin, Static: true}},
		Entrypoint: []string{PausePath},
		Env:        []string{path},
		User:       nobody,
	}
}

// Echo is the test application's image, cairn.local/echo:VERSION, of the
// static echo binary at bin (built from EchoPackage).
func Echo(bin, version string) Spec {
	return Spec{
		Ref: EchoRepo + ":" + version, Title: "echo", Version: version,
		Files:        map[string]File{EchoPath: {Source: bin, Static: true}},
		Entrypoint:   []string{EchoPath},
		Env:          []string{path, fmt.Sprintf("PORT=%d", EchoPort)},
		User:         nobody,
		ExposedPorts: []string{fmt.Sprintf("%d/tcp", EchoPort)},
	}
}

// Kube is one image per KubeComponents, registry.k8s.io/COMPONENT:
// KubeVersion, from the multi-call binary at kube (`make kube`). The four
// share one layer — kube at KubePath and a link per component — built
// once here: the same layer digest, stored once in an archive and in
// containerd. Each image's entrypoint is `kube COMPONENT`; a manifest
// whose command names the component finds the link on PATH.
func Kube(kube string, o Options) ([]Spec, error) {
	files := map[string]File{KubePath: {Source: kube, Static: true}}
	for _, c := range KubeComponents {
		files["/usr/local/bin/"+c] = File{Link: "kube"}
	}
	shared, err := FilesLayer(files, o)
	if err != nil {
		return nil, fmt.Errorf("kube layer: %w", err)
	}
	specs := make([]Spec, 0, len(KubeComponents))
	for _, c := range KubeComponents {
		specs = append(specs, Spec{
			Ref: KubeRegistry + "/" + c + ":" + KubeVersion, Title: c, Version: KubeVersion,
			Base:       []v1.Layer{shared},
			Entrypoint: []string{KubePath, c},
			Env:        []string{path},
		})
	}
	return specs, nil
}

// Binary is the image of one static program: bin at imagePath, the
// entrypoint imagePath args..., the ports exposed. It is the hook for the
// images that are one upstream Go binary, CoreDNS first (see CoreDNS).
func Binary(ref, title, version, bin, imagePath string, args []string, ports ...string) Spec {
	return Spec{
		Ref: ref, Title: title, Version: version,
		Files:        map[string]File{imagePath: {Source: bin, Static: true}},
		Entrypoint:   []string{imagePath},
		Cmd:          args,
		Env:          []string{path},
		ExposedPorts: ports,
	}
}

// CoreDNSVersion is the CoreDNS release tools/coredns pins (a test keeps
// the two equal), and CoreDNSRef the image Cairn's cluster DNS runs.
const (
	CoreDNSVersion = "v1.15.0"
	CoreDNSRef     = "registry.k8s.io/coredns/coredns:" + CoreDNSVersion
)

// CoreDNS is the cluster DNS image of a static coredns binary at bin (make
// coredns builds it from tools/coredns), as upstream lays it out
// (/coredns, registry.k8s.io/coredns/coredns:TAG).
func CoreDNS(bin, tag string) Spec {
	return Binary("registry.k8s.io/coredns/coredns:"+tag, "coredns", tag, bin, "/coredns", nil, "53/tcp", "53/udp", "9153/tcp")
}

// BuildProgram builds one of our programs (PausePackage, EchoPackage) the
// reproducible way, static and stripped, reporting version, into out. It
// runs the go command inside the Cairn module (the working directory must
// be in it).
func BuildProgram(pkg, version, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X main.version="+version, "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, strings.TrimSpace(string(b)))
	}
	return nil
}
