package trending

import topicstage "github.com/trendstream/trendstream/transforms/topics"

// topicsConfig is the configuration of the topic stages: the ranking's
// windows, with o.Topics.
func (o Options) topicsConfig() topicstage.Config {
	return topicstage.Config{
		Topics: o.Topics,
		Size:   o.WindowSize, Period: o.WindowPeriod, Lateness: o.AllowedLateness,
	}
}
