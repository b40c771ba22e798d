package sluice

// EngineCounts reports what the engine holds, for leak tests: registered
// datasets, cached blocks known to the driver, shuffles with outputs, and
// blocks and map outputs held by the workers.
func EngineCounts(c *Context) (datasets, cached, shuffles, workerBlocks, workerOutputs int) {
	st := c.env.driver.Stats()
	for _, name := range c.env.local.Workers() {
		w := c.env.local.Worker(name)
		workerBlocks += w.Blocks.Stats().Blocks
		workerOutputs += w.Shuffle.Len()
	}
	return c.reg.Len(), st.CachedBlocks, st.Shuffles, workerBlocks, workerOutputs
}
