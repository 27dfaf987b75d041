package initramfs

import "errors"

var (
	// ErrPackage is returned when apt cannot resolve or download a
	// package, its digest differs from apt's index, or dpkg-deb cannot
	// unpack it.
	ErrPackage = errors.New("debian package")
	// ErrModules is returned when the kernel's modules directory cannot be
	// read, or a requested module (or one it depends on) is not there.
	ErrModules = errors.New("kernel modules")
	// ErrLibrary is returned when a program for the image needs a shared
	// library that none of the unpacked packages holds.
	ErrLibrary = errors.New("shared library")
	// ErrNotStatic is returned when the cairnd given for /init, or the
	// etcd, is not a static executable: the image has no loader for it.
	ErrNotStatic = errors.New("binary is not static")
)
