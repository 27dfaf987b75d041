package nodelog

import "errors"

// ErrFormat is returned by New when Options.Format is neither "text" nor
// "json".
var ErrFormat = errors.New("unknown log format")
