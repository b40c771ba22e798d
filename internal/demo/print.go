package demo

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Print writes a batch's report as a readable table.
func Print(w io.Writer, r Report, start time.Time) {
	fmt.Fprintf(w, "── batch %s (+%s) · %s events ──\n", r.Time.Format("15:04:05.000"),
		r.Time.Sub(start).Round(time.Millisecond), thousands(r.Events))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "campaign\tviews\tclicks\tCTR\t \tadvertiser\tspend so far\t")
	for i := 0; i < max(len(r.Campaigns), len(r.Spend)); i++ {
		if i < len(r.Campaigns) {
			c := r.Campaigns[i]
			ctr := 0.0
			if c.Value.Views+c.Value.Clicks > 0 {
				ctr = 100 * float64(c.Value.Clicks) / float64(c.Value.Views+c.Value.Clicks)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f%%\t", c.Key, thousands(c.Value.Views), thousands(c.Value.Clicks), ctr)
		} else {
			fmt.Fprint(tw, "\t\t\t\t")
		}
		fmt.Fprint(tw, " \t")
		if i < len(r.Spend) {
			fmt.Fprintf(tw, "%s\t%s\t", r.Spend[i].Key, dollars(r.Spend[i].Value))
		} else {
			fmt.Fprint(tw, "\t\t")
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintf(w, "total spend %s · flagged users: %d", dollars(r.TotalSpend), len(r.Flags))
	var names []string
	for i, f := range r.Flags {
		if i == 6 {
			names = append(names, "…")
			break
		}
		names = append(names, fmt.Sprintf("%s (%d clicks > %d)", f.User, f.Clicks, f.Threshold))
	}
	if len(names) > 0 {
		fmt.Fprintf(w, " — %s", strings.Join(names, ", "))
	}
	fmt.Fprintln(w)
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func dollars(micros int64) string {
	return fmt.Sprintf("$%s.%02d", thousands(micros/1_000_000), micros%1_000_000/10_000)
}
