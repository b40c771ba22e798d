// Package ui is the driver's web UI: live charts of every batch's input
// rate and delays, the batch table down to tasks, workers, the event log,
// the stream graph and the state of stateful operators, served as JSON
// under /api/ and as one embedded page (no build step).
//
// The driver implements Source; Handler serves it. Nothing in the engine
// depends on this package.
package ui
