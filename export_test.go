package sluice

import "time"

// EngineCounts reports what the engine holds, for leak tests: registered
// datasets, cached blocks known to the driver, shuffles with outputs, and
// blocks and map outputs held by the workers.
func EngineCounts(c *Context) (datasets, cached, shuffles, workerBlocks, workerOutputs int) {
	st := c.env.driver.Stats()
	if c.cl != nil { // as of the workers' first heartbeats after now
		now := time.Now()
		ws := c.cl.drv.Workers()
		for deadline := now.Add(5 * time.Second); time.Now().Before(deadline); ws = c.cl.drv.Workers() {
			fresh := true
			for _, w := range ws {
				fresh = fresh && w.LastSeen.After(now)
			}
			if fresh {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, w := range ws {
			workerBlocks += w.Blocks
			workerOutputs += w.Shuffles
		}
		return c.reg.Len(), st.CachedBlocks, st.Shuffles, workerBlocks, workerOutputs
	}
	for _, name := range c.env.local.Workers() {
		w := c.env.local.Worker(name)
		workerBlocks += w.Blocks.Stats().Blocks
		workerOutputs += w.Shuffle.Len()
	}
	return c.reg.Len(), st.CachedBlocks, st.Shuffles, workerBlocks, workerOutputs
}
