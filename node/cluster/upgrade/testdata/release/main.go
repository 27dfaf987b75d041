// Command release is a program of this module linked with a release
// version, for ArtifactVersion's test.
package main

import (
	"fmt"

	"github.com/cairn-project/cairn/internal/version"
)

func main() { fmt.Println(version.Version) }
