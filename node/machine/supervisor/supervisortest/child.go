// Package supervisortest turns a test binary into a small, configurable
// service program, so supervisor tests (and tests of packages built on the
// supervisor) run real child processes without building anything: the
// test binary re-executes itself with EnvChild set, and Main, called first
// in TestMain or an init function, plays the program instead of running
// tests.
//
// The program's behaviour comes from its arguments, each "key=value" or a
// bare key, applied in this order:
//
//	starts=PATH        append "<pid> <unix-nanos>" to PATH at start
//	check-absent=PATH  exit 0 at once if PATH does not exist, 1 if it does
//	                   (an exec health check)
//	succeed-after=N    exit 0 at once if PATH (starts=) has N or more lines
//	print=TEXT         print TEXT on stdout (repeatable)
//	stderr=TEXT        print TEXT on stderr (repeatable)
//	http=ADDR          serve GET /healthz on ADDR: 200, or 503 while the
//	                   file of unhealthy-if= exists
//	unhealthy-if=PATH  see http=
//	grandchild=PATH    start a copy of the program with no arguments (or
//	                   with ignore-term if grandchild-ignore-term is given)
//	                   in the same process group and write its PID to PATH
//	ignore-term        ignore SIGTERM
//	stops=PATH         on SIGTERM, append the name= value to PATH
//	name=NAME          see stops=
//	tick=DURATION      print "tick N" every DURATION
//	exit=N             exit with code N after after= (default 0)
//	after=DURATION     see exit= and crash
//	crash              kill itself with SIGKILL after after=
//
// Without exit= or crash the program runs until SIGTERM, on which it
// prints "terminating on SIGTERM" and exits 0, or until SIGKILL. Signal
// handling is set up before anything is printed, so once a test sees any
// output, SIGTERM is handled (or ignored) as configured.
package supervisortest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EnvChild, set to any value, makes Main play the program.
const EnvChild = "CAIRN_SUPERVISORTEST_CHILD"

// Main plays the program and exits if EnvChild is set; otherwise it
// returns at once.
func Main() {
	if os.Getenv(EnvChild) == "" {
		return
	}
	os.Exit(run(parse(os.Args[1:])))
}

// Path is the program to run: the current test binary.
func Path() string {
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}

// Env is the environment that makes Path play the program.
func Env() []string { return []string{EnvChild + "=1"} }

type options struct {
	values map[string]string
	prints []string
	errs   []string
}

func parse(args []string) options {
	o := options{values: map[string]string{}}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "print":
			o.prints = append(o.prints, v)
		case "stderr":
			o.errs = append(o.errs, v)
		default:
			o.values[k] = v
		}
	}
	return o
}

func (o options) has(k string) bool { _, ok := o.values[k]; return ok }

func (o options) duration(k string) time.Duration {
	d, _ := time.ParseDuration(o.values[k])
	return d
}

func (o options) int(k string) int {
	n, _ := strconv.Atoi(o.values[k])
	return n
}

func run(o options) int {
	// Signals first: a test that has seen any output may send SIGTERM.
	term := make(chan os.Signal, 1)
	if o.has("ignore-term") {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(term, syscall.SIGTERM)
	}
	if p := o.values["check-absent"]; p != "" {
		if _, err := os.Stat(p); err == nil {
			fmt.Println("unhealthy:", p, "exists")
			return 1
		}
		return 0
	}
	if p := o.values["starts"]; p != "" {
		appendLine(p, fmt.Sprintf("%d %d", os.Getpid(), time.Now().UnixNano()))
		if n := o.int("succeed-after"); n > 0 && countLines(p) >= n {
			fmt.Println("succeeding")
			return 0
		}
	}
	for _, s := range o.prints {
		fmt.Println(s)
	}
	for _, s := range o.errs {
		fmt.Fprintln(os.Stderr, s)
	}
	if addr := o.values["http"]; addr != "" {
		if err := serveHealth(addr, o.values["unhealthy-if"]); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			return 2
		}
	}
	if p := o.values["grandchild"]; p != "" {
		if err := spawnGrandchild(p, o.has("grandchild-ignore-term")); err != nil {
			fmt.Fprintln(os.Stderr, "grandchild:", err)
			return 2
		}
	}
	return wait(o, term)
}

// wait runs the program's main loop: ticks, a timed exit or crash, and
// SIGTERM handling.
func wait(o options, term <-chan os.Signal) int {
	var tick <-chan time.Time
	if d := o.duration("tick"); d > 0 {
		tick = time.NewTicker(d).C
	}
	var end <-chan time.Time
	if o.has("exit") || o.has("crash") {
		end = time.After(o.duration("after"))
	}
	for n := 1; ; {
		select {
		case <-tick:
			fmt.Printf("tick %d\n", n)
			n++
		case <-end:
			if o.has("crash") {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
			return o.int("exit")
		case <-term:
			fmt.Println("terminating on SIGTERM")
			if p := o.values["stops"]; p != "" {
				appendLine(p, o.values["name"])
			}
			return 0
		}
	}
}

func serveHealth(addr, unhealthyIf string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if _, err := os.Stat(unhealthyIf); unhealthyIf != "" && err == nil {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	go func() { _ = http.Serve(ln, mux) }()
	return nil
}

func spawnGrandchild(pidFile string, ignoreTerm bool) error {
	var args []string
	if ignoreTerm {
		args = append(args, "ignore-term")
	}
	cmd := exec.Command(Path(), args...)
	cmd.Env = Env()
	if err := cmd.Start(); err != nil {
		return err
	}
	return os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
}

func appendLine(path, line string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "append:", err)
		return
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

func countLines(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "\n")
}
