package compare

import (
	"fmt"
	"io"
	"strings"
)

// HgrmName is the file name WriteHgrm's caller gives a model's
// percentile spectrum: its label with what a file name cannot hold
// replaced, and ".hgrm" ("pool:16" → "pool-16.hgrm").
func HgrmName(label string) string {
	r := strings.NewReplacer(":", "-", "/", "-", "\\", "-", " ", "_", ",", "_", "(", "", ")", "")
	return r.Replace(label) + ".hgrm"
}

// WriteHgrm writes mr's latency as HdrHistogram's percentile
// distribution text (the .hgrm files its plotters read, wrk2's
// --latency spectrum): value in milliseconds, percentile, count and
// 1/(1-percentile), five lines per halving of the distance to 100%, and
// the mean, standard deviation and max at the end. In an open loop the
// values are corrected for coordinated omission.
func (mr ModelResult) WriteHgrm(w io.Writer) error {
	if mr.Histogram == nil {
		return fmt.Errorf("compare: %s recorded no latency", mr.Label)
	}
	_, err := mr.Histogram.PercentilesPrint(w, 5, 1000) // µs to ms
	return err
}
