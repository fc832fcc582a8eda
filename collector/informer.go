package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// InformerStats are the self-metric values of one informer.
type InformerStats struct {
	Resource string
	// Synced is true once the cache has synced and while its list and watch
	// calls succeed.
	Synced      bool
	Objects     int
	Events      map[string]uint64
	WatchErrors uint64
}

// InformerCollector emits the informers' self-metrics from a stats function
// that the informer wiring provides.
type InformerCollector struct {
	stats func() []InformerStats
}

// NewInformerCollector returns a collector over the given stats.
func NewInformerCollector(stats func() []InformerStats) *InformerCollector {
	return &InformerCollector{stats: stats}
}

// Describe sends the informer descriptors.
func (c *InformerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- informerSyncedDesc
	ch <- cachedObjectsDesc
	ch <- informerEventsDesc
	ch <- watchErrorsDesc
}

// Collect emits one series of each family per informer.
func (c *InformerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		emit(ch, informerSyncedDesc, prometheus.GaugeValue, boolValue(s.Synced), s.Resource)
		emit(ch, cachedObjectsDesc, prometheus.GaugeValue, float64(s.Objects), s.Resource)
		for _, event := range []string{"add", "update", "delete"} {
			emit(ch, informerEventsDesc, prometheus.CounterValue, float64(s.Events[event]), s.Resource, event)
		}
		emit(ch, watchErrorsDesc, prometheus.CounterValue, float64(s.WatchErrors), s.Resource)
	}
}
