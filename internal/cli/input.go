package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// maxRequestBytes is the largest request message cairnctl sends, the same
// as node/api.MaxRequestBytes (repeated so that cairnctl does not link the
// node runtime): the largest configuration document plus room for the rest
// of the request. A node refuses anything larger anyway; refusing it here
// saves sending it.
const maxRequestBytes = config.MaxDocumentBytes + 64<<10

// readDocument reads a configuration or patch document from file, or from
// stdin for "-", and checks it as a node would before sending anything: no
// larger than config.MaxDocumentBytes (checked before reading, where the
// size is known), not empty, and UTF-8 text.
func readDocument(stdin io.Reader, file string) ([]byte, error) {
	name, r := "stdin", stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read configuration: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > config.MaxDocumentBytes {
			return nil, tooLargeError(file, config.FormatBytes(int(fi.Size())))
		}
		name, r = file, f
	}
	data, err := io.ReadAll(io.LimitReader(r, config.MaxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > config.MaxDocumentBytes {
		return nil, tooLargeError(name, "more than "+config.FormatBytes(config.MaxDocumentBytes))
	}
	return data, checkText(name, data)
}

// checkText refuses an empty document and one that is not UTF-8 text.
func checkText(name string, data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%s: %w", name, ErrEmptyFile)
	}
	if i := config.FirstNonText(data); i >= 0 {
		return fmt.Errorf("%s: %w: the file is not UTF-8 text (byte 0x%02x at offset %d)", name, ErrNotYAML, data[i], i)
	}
	return nil
}

func tooLargeError(name, size string) error {
	return fmt.Errorf("%s: %w: it is %s; a node accepts a configuration of at most %s",
		name, ErrTooLarge, size, config.FormatBytes(config.MaxDocumentBytes))
}
