package bench

import (
	"math"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func TestEndToEndPercentile(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		infos []sluice.BatchInfo
		p     float64
		want  float64
	}{
		{[]sluice.BatchInfo{{Records: 100, TotalDelay: 50 * ms}}, 50, 100},
		{[]sluice.BatchInfo{{Records: 100, TotalDelay: 50 * ms}}, 99, 149},
		// Two batches of equal records, 100ms apart: uniform over (0, 200].
		{[]sluice.BatchInfo{{Records: 10, TotalDelay: 0}, {Records: 10, TotalDelay: 100 * ms}}, 50, 100},
		{[]sluice.BatchInfo{{Records: 10, TotalDelay: 0}, {Records: 10, TotalDelay: 100 * ms}}, 99, 198},
		// Weighted by records: the late batch holds 90% of them.
		{[]sluice.BatchInfo{{Records: 10, TotalDelay: 0}, {Records: 90, TotalDelay: 1000 * ms}}, 50, 1000 + 100*(0.5-0.1)/0.9},
		// Empty batches do not count.
		{[]sluice.BatchInfo{{Records: 0, TotalDelay: time.Hour}, {Records: 1, TotalDelay: 0}}, 99, 99},
		{nil, 50, 0},
	} {
		got := EndToEndPercentile(c.infos, 100*ms, c.p)
		if math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%+v p%v: got %v, want %v", c.infos, c.p, got, c.want)
		}
	}
}
