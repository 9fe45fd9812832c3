package kafkabus_test

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// failPartitionOnce makes the first produce request carrying topic/partition fail with
// NOT_ENOUGH_REPLICAS (nothing appended, a retriable error); it reports how many it failed.
func failPartitionOnce(c *kfake.Cluster, topic string, partition int32) *atomic.Int32 {
	return failPartition(c, topic, partition, kerr.NotEnoughReplicas.Code, 1)
}

// failPartition makes the first n produce requests carrying topic/partition fail with
// code for every partition they carry (nothing appended); n < 0: every request. It
// reports how many it failed.
func failPartition(c *kfake.Cluster, topic string, partition int32, code int16, n int32) *atomic.Int32 {
	var failed atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.ProduceRequest)
		hit := false
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == topic && rp.Partition == partition {
					hit = true
				}
			}
		}
		if !hit || n >= 0 && failed.Load() >= n {
			return nil, nil, false
		}
		failed.Add(1)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return &failed
}
