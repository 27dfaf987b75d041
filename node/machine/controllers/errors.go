package controllers

import "errors"

// ErrSharedUTS is returned when setting the hostname where cairnd is not
// PID 1 yet shares its UTS namespace with PID 1 or its parent: it runs
// beside the host's processes (a container-mode cairnd started without a
// UTS namespace of its own), and the hostname it would set is theirs.
var ErrSharedUTS = errors.New("cairnd shares its UTS namespace with the processes that started it, so the hostname is theirs: not set")
