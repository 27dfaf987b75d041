//go:build !unix

package cli

func startDetached(string, []string, string) (int, error) { return 0, ErrUnsupported }

func processRunning(int) bool { return false }

func processIsNode(int, string) bool { return false }

func terminate(int) error { return ErrUnsupported }

func processesOf(string) []osProcess { return nil }

func killProcess(int) error { return ErrUnsupported }
