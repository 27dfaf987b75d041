// Package linebuf keeps the newest lines of a log in memory, bounded by a
// line count and optionally by bytes, and streams them to followers: the
// tail first, then every new line. A follower never slows the writer; one
// that falls behind loses its oldest queued lines and gets, in their place,
// a notice the owner of the buffer formats. cairnd's own log
// (node/machine/nodelog) and the supervisor's service logs (node/machine/supervisor) are
// both built on it.
package linebuf
