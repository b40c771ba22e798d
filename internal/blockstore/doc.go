// Package blockstore keeps a worker's blocks — cached dataset partitions,
// input blocks and replicas received from peers — within a memory budget,
// spilling the least recently used blocks to local disk.
//
// A block is named by an ID and holds one partition (a []T as any) together
// with its lineage.Type. Blocks stay in memory as Go values: local mode
// never encodes data that stays in the process. A block is encoded, with
// its type's record codec (lineage.Type.Encode), only when it is spilled or
// when Encoded is asked for it (to send it to a peer).
//
// # Budget
//
// Config.MemoryBytes bounds the estimated size of the blocks held in memory
// (512 MiB by default, unlimited when negative). The size of a block is
// EstimateBytes: the encoded size of a sample of its first records,
// extrapolated to all of them, plus a fixed overhead. It is a cheap proxy for
// the memory the block takes, not a measurement. When a Put takes the total
// over the budget, the store spills least recently used blocks until it fits
// again; the block just put is spilled only if it alone exceeds the budget.
// Get and Put mark a block as used. Get of a spilled block reads and decodes
// it, and brings it back into memory when it fits without spilling another.
//
// A failed spill (a full disk, a read-only directory) is returned by Put,
// naming the block and the directory; the block stays in memory, so nothing
// is lost and the store stays usable, only over its budget until a later
// spill succeeds. Stats.SpillErrors counts these failures.
//
// # Files
//
// Spilled blocks live in Config.SpillDir (created on first spill), or, if
// that is empty, in a private directory os.TempDir()/sluice-blocks-<pid>-<random>.
// Each spilled block is one file named after its ID and a sequence number
// (n<node>_t<time>_s<seq>_p<part>_<n>.blk, so that a name is never reused),
// written to a temporary name and renamed. A file holds a 16-byte header
// (magic "slb1", CRC-32C of the payload, payload length, little-endian) and
// the payload, the block in the record codec's format. Files are not synced:
// spilled blocks are a cache, recomputed from lineage after a crash. A
// damaged file is reported as ErrCorrupt, never a panic. Remove, a
// replacing Put and Close delete the files; Close also removes the directory
// if the store created it. Two stores must not share a SpillDir.
//
// # Concurrency
//
// A Store is safe for concurrent use and starts no goroutines: spills run in
// the goroutine that calls Put. The store's mutex guards only its maps and
// counters; blocks are encoded, written, read and decoded without it, so a
// long spill does not stall Gets of other blocks (a block being spilled is
// still served from memory).
//
//	s := blockstore.New(blockstore.Config{MemoryBytes: 256 << 20})
//	defer s.Close()
//	if err := s.Put(id, part, typ); err != nil {
//		log.Print(err) // a failed spill: the block is still stored
//	}
//	v, ok, err := s.Get(id)
package blockstore
