// Command mkimage builds the Cairn node image (rootfs/image) from a static
// cairnd and etcd (and any further static binaries) and writes it as a 'docker load' archive, or loads it into Docker
// directly. `make image` runs it. Set SOURCE_DATE_EPOCH to choose the
// image's fixed timestamp (default: the Unix epoch).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/cairn-project/cairn/rootfs/image"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run() error {
	cairnd := flag.String("cairnd", "", "static cairnd binary (CGO_ENABLED=0)")
	tag := flag.String("tag", "", "image tag (default cairn/cairnd:VERSION, VERSION as cairnd --version reports it)")
	out := flag.String("out", "", "write the 'docker load' archive here")
	load := flag.Bool("load", false, "load the image into Docker")
	etcd := flag.String("etcd", "", "static etcd binary for "+image.EtcdPath+" (make etcd); omit for an image without etcd")
	bins := binaryFlag{}
	flag.Var(bins, "binary", "a further static binary, as IMAGE_PATH=FILE (repeatable)")
	flag.Parse()
	if *cairnd == "" || (*out == "" && !*load) {
		flag.Usage()
		return errors.New("--cairnd and one of --out or --load are required")
	}
	if *etcd != "" {
		bins[image.EtcdPath] = *etcd
	}
	created, err := image.SourceDateEpoch()
	if err != nil {
		return err
	}
	img, version, err := image.FromFile(*cairnd, bins, nil, created)
	if err != nil {
		return err
	}
	if *tag == "" {
		*tag = "cairn/cairnd:" + version
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	id, err := image.ID(img)
	if err != nil {
		return err
	}
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		if err := image.Write(f, img, *tag); err != nil {
			_ = f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if *load {
		if _, err := image.Load(img, *tag); err != nil {
			return err
		}
	}
	size, err := image.Size(img)
	if err != nil {
		return err
	}
	fmt.Printf("%s version %s\n  manifest %s\n  id       %s\n  size     %d bytes (uncompressed layers)\n", *tag, version, digest, id, size)
	return nil
}

// binaryFlag collects --binary IMAGE_PATH=FILE.
type binaryFlag map[string]string

func (b binaryFlag) String() string { return "" }

func (b binaryFlag) Set(v string) error {
	p, file, ok := strings.Cut(v, "=")
	if !ok || p == "" || file == "" {
		return fmt.Errorf("%q is not IMAGE_PATH=FILE", v)
	}
	b[p] = file
	return nil
}
