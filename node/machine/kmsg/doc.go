// Package kmsg reads the kernel's message buffer from /dev/kmsg, the
// structured interface that dmesg(1) uses: one record per read(2), each
// with its syslog facility and priority, a 64-bit sequence number and a
// monotonic timestamp (Documentation/ABI/testing/dev-kmsg in the kernel).
package kmsg
