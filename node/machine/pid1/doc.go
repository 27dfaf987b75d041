// Package pid1 holds cairnd's duties as the kernel's init (pid1 mode),
// the small part that runs before and around node.Run, in the Talos
// manner: it mounts the early filesystems and makes the root read-only
// (Mount), brings up loopback, logs to the console and /dev/kmsg
// (Console), reaps orphaned zombies without stealing the supervisor's
// children (Reaper), recovers panics and never exits (Guard), and carries
// out the final power step (PowerOff: sync, unmount, reboot(2)).
//
// Nothing here decides policy: cmd/cairnd calls these in order and acts
// on what node.Run returns. See DESIGN.md for the why.
package pid1
