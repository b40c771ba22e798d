package gen_test

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/gen"
)

func ExampleText() {
	g := gen.Text{Seed: 42} // nil Vocab: gen.DefaultVocab()
	r := g.Record(1)
	fmt.Println(len(r))
	fmt.Println(strings.Fields(r)[:3])
	fmt.Println(g.Record(1) == g.AppendRange(nil, 0, 2)[1])
	// Output:
	// 100
	// [zcjz uxd msc]
	// true
}

func ExampleAds() {
	ads := gen.DefaultAds(1)
	const t0, t1 = 0, 1_000_000_000 // one second of event time
	for _, e := range ads.AppendRange(nil, 0, 2, t0, t1) {
		fmt.Println(e.Time, e.Kind, e.Campaign, e.Advertiser, e.CostMicros)
	}
	fmt.Println(ads.AdvertiserOf("camp-0057"))
	fmt.Println(len(ads.Bots()), len(ads.CampaignTable()))
	// Output:
	// 0 view camp-0057 adv-0017 2000
	// 500000000 view camp-0091 adv-0011 2000
	// adv-0017
	// 17 100
}

func ExampleVocab() {
	v := gen.DefaultVocab()
	fmt.Println(v.Len(), v.Word(0))
	fmt.Printf("%.3f\n", v.Zipf().Prob(0))
	// Output:
	// 10000 uyyntalqj
	// 0.151
}
