// Package progress draws the live status line of a long `sluice` command
// on a terminal: batches done (of how many), input rate, scheduling delay,
// processing time and total delay (the latest batch's, and the median of
// the recent ones), elapsed time and time left, redrawn in place at most
// four times a second. When its writer is not a terminal it draws nothing
// at all, so that pipes, files and CI logs get only the command's own
// output.
//
//	st := progress.New(os.Stderr, progress.Options{})
//	defer st.Close()
//	st.Begin(progress.Phase{Label: "bench grep", Total: 15, Interval: time.Second})
//	out := st.Writer(os.Stdout) // what the command prints goes above the status
//	… after each batch: st.Observe(progress.Batch{…}) …
//
// Other output to the same terminal must go through Writer: it clears the
// status, writes, and the status comes back at the next redraw, so that the
// two never share a line. A nil *Status is valid and does nothing, so that
// code reporting progress needs no check.
//
// Goroutines: a Status drawing on a terminal owns one redraw goroutine,
// started by New and stopped and waited for by Close. A silent one starts
// none.
//
// Dependencies: golang.org/x/term, the Go project's own terminal package,
// says whether a file descriptor is a terminal and how wide it is. The
// tests draw on a real pseudo-terminal opened with github.com/creack/pty,
// the usual Go library for them.
package progress
