// Package sluicetest is the test harness for Sluice jobs, like Spark
// Streaming's TestSuiteBase: a manual clock, a queue input that feeds given
// batches, and the collected output of every batch, so that a job runs N
// batches deterministically without sleeping.
//
//	h := sluicetest.New(t, time.Second)
//	words := sluicetest.Input(h, 2, []string{"a", "b", "a"}, []string{"b"})
//	counts := sluicetest.Collect(sluice.CountByValue(words))
//	h.Run(2)
//	got := counts.Batches() // [[{a 2} {b 1}] [{b 1}]] (order within a batch may vary)
package sluicetest
