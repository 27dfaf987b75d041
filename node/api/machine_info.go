package api

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

// Host is the machine the info RPCs describe: a root directory holding
// proc/, sys/ and the files List and Read serve, and the PID cairnd runs
// as. Tests point Root at a directory of fake /proc and /sys files.
type Host struct {
	// Root is the filesystem root; nil means os.DirFS("/").
	Root fs.FS
	// PID is cairnd's process ID in Root's proc/; 0 means os.Getpid().
	PID int
}

func (h Host) root() fs.FS {
	if h.Root == nil {
		return os.DirFS("/")
	}
	return h.Root
}

func (h Host) pid() int {
	if h.PID == 0 {
		return os.Getpid()
	}
	return h.PID
}

// Linux constants for /proc/PID/stat: USER_HZ is 100 on every
// architecture Go supports, whatever the kernel's HZ.
const clockTicksPerSecond = 100

// Processes implements cairn.machine.v1.MachineService. In process mode
// the host is not the node's, so only cairnd and its descendants are
// listed.
func (m *machineService) Processes(context.Context, *connect.Request[machinev1.ProcessesRequest]) (*connect.Response[machinev1.ProcessesResponse], error) {
	root := m.s.opts.Host.root()
	procs, err := readProcesses(root)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	scope := machinev1.ProcessScope_PROCESS_SCOPE_HOST
	if m.s.opts.Mode == "process" {
		scope = machinev1.ProcessScope_PROCESS_SCOPE_CAIRND
		procs = descendants(procs, int32(m.s.opts.Host.pid())) // PIDs fit in int32
	}
	return connect.NewResponse(&machinev1.ProcessesResponse{NodeName: m.s.opts.NodeName, Scope: scope, Processes: procs}), nil
}

// readProcesses reads every proc/PID of root, by pid. A process that ends
// while it is read is skipped.
func readProcesses(root fs.FS) ([]*machinev1.Process, error) {
	entries, err := fs.ReadDir(root, "proc")
	if err != nil {
		return nil, fmt.Errorf("read /proc: %w", err)
	}
	var out []*machinev1.Process
	for _, e := range entries {
		pid, err := strconv.ParseInt(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		p, err := readProcess(root, int32(pid))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *machinev1.Process) int { return cmp.Compare(a.GetPid(), b.GetPid()) })
	return out, nil
}

func readProcess(root fs.FS, pid int32) (*machinev1.Process, error) {
	dir := "proc/" + strconv.Itoa(int(pid))
	stat, err := fs.ReadFile(root, dir+"/stat")
	if err != nil {
		return nil, fmt.Errorf("read process %d: %w", pid, err)
	}
	p, err := parseStat(stat)
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	p.Pid = pid
	if cmdline, err := fs.ReadFile(root, dir+"/cmdline"); err == nil {
		if c := strings.TrimRight(string(cmdline), "\x00"); c != "" {
			p.Args = strings.Split(c, "\x00")
		}
	}
	return p, nil
}

var errBadStat = errors.New("malformed stat")

// parseStat reads /proc/PID/stat (proc(5)): the command sits in
// parentheses and may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (*machinev1.Process, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return nil, errBadStat
	}
	f := strings.Fields(string(b[end+1:]))
	// After the command: state(3) ppid(4) ... utime(14) stime(15) ... rss(24).
	if len(f) < 22 {
		return nil, fmt.Errorf("%w: %d fields", errBadStat, len(f))
	}
	ppid, err1 := strconv.ParseInt(f[1], 10, 32)
	utime, err2 := strconv.ParseUint(f[11], 10, 64)
	stime, err3 := strconv.ParseUint(f[12], 10, 64)
	rss, err4 := strconv.ParseInt(f[21], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadStat, err)
	}
	return &machinev1.Process{
		Ppid:          int32(ppid),
		State:         f[0],
		Command:       string(b[open+1 : end]),
		RssBytes:      uint64(max(rss, 0)) * uint64(os.Getpagesize()), // clamped above
		CpuTimeMillis: (utime + stime) * 1000 / clockTicksPerSecond,
	}, nil
}

// descendants keeps the process pid and its descendants, in procs' order.
func descendants(procs []*machinev1.Process, pid int32) []*machinev1.Process {
	keep := map[int32]bool{pid: true}
	for changed := true; changed; {
		changed = false
		for _, p := range procs {
			if !keep[p.GetPid()] && keep[p.GetPpid()] {
				keep[p.GetPid()], changed = true, true
			}
		}
	}
	return slices.DeleteFunc(slices.Clone(procs), func(p *machinev1.Process) bool { return !keep[p.GetPid()] })
}

// Mounts implements cairn.machine.v1.MachineService.
func (m *machineService) Mounts(context.Context, *connect.Request[machinev1.MountsRequest]) (*connect.Response[machinev1.MountsResponse], error) {
	b, err := fs.ReadFile(m.s.opts.Host.root(), "proc/self/mountinfo")
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("read mountinfo: %w", err))
	}
	mounts, err := parseMountinfo(string(b))
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return connect.NewResponse(&machinev1.MountsResponse{NodeName: m.s.opts.NodeName, Mounts: mounts}), nil
}

var errBadMountinfo = errors.New("malformed mountinfo line")

// parseMountinfo reads proc(5)'s mountinfo: "ID PARENT MAJ:MIN ROOT POINT
// OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS".
func parseMountinfo(text string) ([]*machinev1.Mount, error) {
	var out []*machinev1.Mount
	for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+4 {
			return nil, fmt.Errorf("%w: %q", errBadMountinfo, line)
		}
		opts := strings.Split(f[5], ",")
		out = append(out, &machinev1.Mount{
			Source:       unescapeMount(f[sep+2]),
			MountPoint:   unescapeMount(f[4]),
			FsType:       f[sep+1],
			Options:      opts,
			SuperOptions: strings.Split(f[sep+3], ","),
			ReadOnly:     slices.Contains(opts, "ro"),
		})
	}
	return out, nil
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Disks implements cairn.machine.v1.MachineService.
func (m *machineService) Disks(context.Context, *connect.Request[machinev1.DisksRequest]) (*connect.Response[machinev1.DisksResponse], error) {
	root := m.s.opts.Host.root()
	entries, err := fs.ReadDir(root, "sys/block")
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("read /sys/block: %w", err))
	}
	res := &machinev1.DisksResponse{NodeName: m.s.opts.NodeName}
	for _, e := range entries {
		dir := "sys/block/" + e.Name()
		// size is in 512-byte sectors whatever the device's block size.
		sectors, _ := strconv.ParseUint(sysValue(root, dir+"/size"), 10, 64)
		res.Disks = append(res.Disks, &machinev1.Disk{
			Name:      e.Name(),
			SizeBytes: sectors * 512,
			Model:     sysValue(root, dir+"/device/model"),
			Serial:    cmp.Or(sysValue(root, dir+"/device/serial"), sysValue(root, dir+"/serial")),
			ReadOnly:  sysValue(root, dir+"/ro") == "1",
		})
	}
	return connect.NewResponse(res), nil
}

// sysValue is a sysfs attribute, trimmed; empty when it is absent.
func sysValue(root fs.FS, name string) string {
	b, err := fs.ReadFile(root, name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
