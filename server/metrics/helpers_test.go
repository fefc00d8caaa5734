package metrics

import (
	dto "github.com/prometheus/client_model/go"
)

type dtoFamily struct{ f *dto.MetricFamily }

// value returns the sample whose labels include the name/value pairs
// given: a counter's or gauge's value, a histogram's count.
func (d *dtoFamily) value(labels ...string) float64 {
	for _, m := range d.f.GetMetric() {
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func (d *dtoFamily) count() int { return len(d.f.GetMetric()) }
