// Package nodelog is cairnd's own log: a slog handler that writes every
// record to stderr, as before, and keeps the most recent lines in memory,
// bounded by lines and bytes, for the node API to serve under the name
// "cairnd" (`cairnctl logs cairnd -f`). Its level is a slog.LevelVar the
// API can change while the node runs.
package nodelog
