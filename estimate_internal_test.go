package sluice

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
)

// TestStateBlockSizeIsEstimatedFromASample checks that a whole-state
// block's size estimate is close to its encoded size, for states in one
// layer and in many, and for the event-time windows' state.
func TestStateBlockSizeIsEstimatedFromASample(t *testing.T) {
	var m *stateMap[string, int64]
	for layer := range 5 {
		m = newStateMap(m)
		for i := range 2000 {
			m.put(fmt.Sprintf("key-%d", (layer*1500+i)%9000), stateEntry[int64]{value: int64(i * layer), updated: 1})
		}
	}
	mapped := make([]string, 3000)
	for i := range mapped {
		mapped[i] = fmt.Sprintf("mapped record %d", i)
	}
	check := func(name string, typ lineage.Type, part any) {
		t.Helper()
		full := len(typ.Encode(nil, part))
		est := blockstore.EstimateBytes(typ, part) - blockstore.EstimateBytes(typ, typ.Empty()) // less the per-block overhead
		if est < int64(full)*2/3 || est > int64(full)*3/2 {
			t.Errorf("%s: estimated %d bytes, encoded %d", name, est, full)
		}
	}
	check("MapWithState", dataset.RecordType[stateRecord[string, int64, string]](), []stateRecord[string, int64, string]{{states: m, mapped: mapped}})
	check("MapWithState, nothing mapped", dataset.RecordType[stateRecord[string, int64, string]](), []stateRecord[string, int64, string]{{states: m}})
	check("MapWithState, empty", dataset.RecordType[stateRecord[string, int64, string]](), []stateRecord[string, int64, string]{{}})
	ev := eventState[string, int64]{windows: map[int64]*stateMap[string, int64]{10: m, 20: m.compacted()}}
	for i := range 500 {
		ev.closed = append(ev.closed, Pair(EventWindow[string]{Key: fmt.Sprint(i)}, int64(i)))
	}
	check("event windows", dataset.RecordType[eventState[string, int64]](), []eventState[string, int64]{ev})
}
